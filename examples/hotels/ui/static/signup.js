// Live slug check for the signup form. Optional: without it the form's
// "Check availability" button asks the server, and signup checks again.
(function () {
  var input = document.getElementById("f-slug");
  var out = document.getElementById("f-slug-error");
  if (!input || !out || !window.fetch) return;
  var timer, last = "";
  function check() {
    var slug = input.value.trim().toLowerCase();
    if (slug === "" || slug === last) return;
    last = slug;
    fetch("/signup/check?slug=" + encodeURIComponent(slug), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (res) {
        if (slug !== last) return;
        out.textContent = res.message;
        out.className = res.ok ? "error ok" : "error";
        input.setAttribute("aria-invalid", res.ok ? "false" : "true");
      })
      .catch(function () {});
  }
  input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(check, 250); });
})();
