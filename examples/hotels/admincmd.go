package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/condo-dev/condo/condocli"
	"github.com/condo-dev/condo/examples/hotels/accounts"
)

func newAdminCmd(cli *condocli.CLI) *cobra.Command {
	root := &cobra.Command{Use: "admin", Short: "Platform admin accounts (for admin.<base-domain>)"}
	var generate bool
	create := &cobra.Command{
		Use:   "create-user EMAIL",
		Short: "Create a platform admin account",
		Long: `Create an account for the platform admin (the reserved admin host).
The password is read from the terminal (twice, not echoed) or, when standard
input is not a terminal, from its first line; --generate makes one and
prints it.`,
		Args: condocli.Args("EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			password, err := readPassword(cmd, generate)
			if err != nil {
				return err
			}
			st, err := cli.Open(ctx)
			if err != nil {
				return err
			}
			store := accounts.New(st.Pool, &accounts.Config{Logger: st.Logger})
			u, err := store.CreateAdmin(ctx, args[0], password)
			var ie *accounts.InputError
			switch {
			case errors.As(err, &ie):
				return fmt.Errorf("%s: %s", ie.Field, ie.Message)
			case errors.Is(err, accounts.ErrEmailTaken):
				return fmt.Errorf("an admin with e-mail %s exists already", args[0])
			case err != nil:
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created platform admin %s (id %d)\n", u.Email, u.ID)
			if generate {
				fmt.Fprintf(cmd.OutOrStdout(), "password: %s\n", password)
			}
			return nil
		},
	}
	create.Flags().BoolVar(&generate, "generate", false, "generate a password and print it")
	root.AddCommand(create)
	return root
}

func readPassword(cmd *cobra.Command, generate bool) (string, error) {
	if generate {
		return rand.Text(), nil
	}
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", err
		}
		fmt.Fprint(cmd.ErrOrStderr(), "Again: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", err
		}
		if string(p1) != string(p2) {
			return "", errors.New("the passwords differ")
		}
		return string(p1), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
