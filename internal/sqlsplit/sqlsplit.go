package sqlsplit

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnterminated is wrapped by the error [Split] returns when a string,
// quoted identifier, dollar quote or block comment does not end.
var ErrUnterminated = errors.New("unterminated")

// Split returns the statements of script in order, each without its
// terminating semicolon and without surrounding white space. Pieces that
// hold only white space and comments are left out, so a script of comments
// has no statements. It returns an error wrapping [ErrUnterminated] when a
// string, quoted identifier, dollar quote or comment does not end: sending
// the rest as one statement would hide the mistake.
func Split(script string) ([]string, error) {
	var out []string
	s := script
	start, depth := 0, 0
	code := false  // the current piece holds something besides comments
	prevWord := "" // the last keyword, to see BEGIN ATOMIC
	emit := func(end int) {
		if code {
			out = append(out, strings.Trim(s[start:end], space))
		}
		start, code, prevWord = end+1, false, ""
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(s)
			}
			continue
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			j, err := skipBlockComment(s, i)
			if err != nil {
				return nil, err
			}
			i = j
			continue
		case c == '\'':
			j, err := skipString(s, i, false)
			if err != nil {
				return nil, err
			}
			i, code, prevWord = j, true, ""
			continue
		case c == '"':
			j, err := skipQuotedIdent(s, i)
			if err != nil {
				return nil, err
			}
			i, code, prevWord = j, true, ""
			continue
		case c == '$':
			if tag, ok := dollarTag(s, i); ok {
				end := strings.Index(s[i+len(tag):], tag)
				if end < 0 {
					return nil, fmt.Errorf("dollar quote %s at offset %d: %w", tag, i, ErrUnterminated)
				}
				i += len(tag) + end + len(tag)
				code, prevWord = true, ""
				continue
			}
			// A positional parameter ($1): ordinary code.
		case c == ';':
			if depth == 0 {
				emit(i)
				i++
				continue
			}
		case identStart(c):
			j := i + 1
			for j < len(s) && identCont(s[j]) {
				j++
			}
			w := strings.ToLower(s[i:j])
			if w == "e" && j < len(s) && s[j] == '\'' {
				// E'…': backslash escapes, so \' does not end it.
				k, err := skipString(s, j, true)
				if err != nil {
					return nil, err
				}
				i, code, prevWord = k, true, ""
				continue
			}
			switch {
			case w == "atomic" && prevWord == "begin":
				depth++
			case w == "case" && depth > 0:
				depth++
			case w == "end" && depth > 0:
				depth--
			}
			i, code, prevWord = j, true, w
			continue
		}
		if !isSpace(c) {
			code, prevWord = true, ""
		}
		i++
	}
	emit(len(s))
	return out, nil
}

// skipString returns the offset after the string literal opening at i.
func skipString(s string, i int, backslash bool) (int, error) {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if backslash {
				j++
			}
		case '\'':
			if j+1 < len(s) && s[j+1] == '\'' {
				j++
				continue
			}
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("string literal at offset %d: %w", i, ErrUnterminated)
}

// skipQuotedIdent returns the offset after the quoted identifier at i.
func skipQuotedIdent(s string, i int) (int, error) {
	for j := i + 1; j < len(s); j++ {
		if s[j] == '"' {
			if j+1 < len(s) && s[j+1] == '"' {
				j++
				continue
			}
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("quoted identifier at offset %d: %w", i, ErrUnterminated)
}

// skipBlockComment returns the offset after the block comment at i;
// PostgreSQL's block comments nest.
func skipBlockComment(s string, i int) (int, error) {
	depth := 0
	for j := i; j+1 < len(s); {
		switch {
		case s[j] == '/' && s[j+1] == '*':
			depth++
			j += 2
		case s[j] == '*' && s[j+1] == '/':
			depth--
			j += 2
			if depth == 0 {
				return j, nil
			}
		default:
			j++
		}
	}
	return 0, fmt.Errorf("block comment at offset %d: %w", i, ErrUnterminated)
}

// dollarTag returns the delimiter ($$ or $tag$) of a dollar quote opening
// at i. A $ inside an identifier (a$b) or before a digit ($1) opens none.
func dollarTag(s string, i int) (string, bool) {
	if i > 0 && identCont(s[i-1]) {
		return "", false
	}
	j := i + 1
	if j < len(s) && !identStart(s[j]) && s[j] != '$' {
		return "", false
	}
	for j < len(s) && identCont(s[j]) && s[j] != '$' {
		j++
	}
	if j >= len(s) || s[j] != '$' {
		return "", false
	}
	return s[i : j+1], true
}

func identStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func identCont(c byte) bool { return identStart(c) || c >= '0' && c <= '9' || c == '$' }

// space is PostgreSQL's white space; other Unicode spaces are identifier
// characters to its lexer.
const space = " \t\n\r\f\v"

func isSpace(c byte) bool { return strings.IndexByte(space, c) >= 0 }
