// Small behaviours shared by every page. Everything works without this file; it only adds
// copy buttons, dismissible toasts, the mobile menu, tabs and disabling submit buttons.
(function () {
  "use strict";

  function onClick(selector, handler) {
    document.addEventListener("click", function (event) {
      var target = event.target.closest(selector);
      if (target) handler(event, target);
    });
  }

  // Copy buttons: data-copy="#element-id" copies that element's value or text.
  onClick("[data-copy]", function (event, button) {
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = "value" in source && source.value !== undefined ? source.value : source.textContent;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text.trim()).then(done);
    } else {
      if (source.select) { source.select(); } else {
        var range = document.createRange(); range.selectNodeContents(source);
        var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
      }
      document.execCommand("copy");
      done();
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-autosubmit]")) event.target.form.submit();
  });

  onClick("[data-print]", function () { window.print(); });

  onClick("[data-dismiss]", function (event, button) {
    var toast = button.closest(".toast");
    if (toast) toast.remove();
  });

  onClick("[data-nav-toggle]", function () {
    var nav = document.getElementById("main-nav");
    if (!nav) return;
    var open = nav.classList.toggle("open");
    document.querySelector("[data-nav-toggle]").setAttribute("aria-expanded", String(open));
  });

  // Tabs inside [data-tabs]: buttons with aria-controls show one panel at a time.
  onClick("[data-tabs] [role=tab]", function (event, tab) {
    var group = tab.closest("[data-tabs]");
    var scope = group.parentElement;
    group.querySelectorAll("[role=tab]").forEach(function (other) {
      var selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      var panel = scope.querySelector("#" + other.getAttribute("aria-controls"));
      if (panel) panel.hidden = !selected;
    });
  });

  // Dialogs: data-open-dialog="#id" opens a <dialog>; data-close-dialog closes its dialog.
  onClick("[data-open-dialog]", function (event, button) {
    var dialog = document.querySelector(button.getAttribute("data-open-dialog"));
    if (dialog) { event.preventDefault(); dialog.showModal(); }
  });
  onClick("[data-close-dialog]", function (event, button) {
    var dialog = button.closest("dialog");
    if (dialog) { event.preventDefault(); dialog.close(); }
  });

  // Forms: disable the submit button while sending (prevents double submits).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute("data-confirm") && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
      return;
    }
    if (form.hasAttribute("hx-post") || form.hasAttribute("hx-get")) return;
    form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (b) {
      setTimeout(function () { b.disabled = true; }, 0);
    });
  });

  // Toasts fade out on their own after a while.
  function scheduleToasts(root) {
    (root || document).querySelectorAll(".toast[data-autohide]").forEach(function (toast) {
      setTimeout(function () { toast.remove(); }, 6000);
    });
  }
  // Tab panels are all visible without JavaScript; with it, show the selected one only.
  function initTabs(root) {
    (root || document).querySelectorAll("[data-tabs]").forEach(function (group) {
      var scope = group.parentElement;
      group.querySelectorAll("[role=tab]").forEach(function (tab) {
        var panel = scope.querySelector("#" + tab.getAttribute("aria-controls"));
        if (panel) panel.hidden = tab.getAttribute("aria-selected") !== "true";
      });
    });
    showTabForHash();
  }
  function showTabForHash() {
    if (!location.hash) return;
    var target = document.querySelector("[aria-controls='" + location.hash.slice(1) + "']");
    if (target) target.click();
  }
  window.addEventListener("hashchange", showTabForHash);
  document.addEventListener("DOMContentLoaded", function () { scheduleToasts(); initTabs(); });
  document.addEventListener("htmx:afterSwap", function (e) { initTabs(e.target); });
  document.addEventListener("htmx:afterSwap", function (e) { scheduleToasts(e.target); });

  // A slug field (data-slug-from: the name field's id) follows the name until the person
  // edits it; [data-slug-preview] spans show the address it makes.
  function slugify(text) {
    return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60).replace(/-+$/, "");
  }
  function initSlug(slug) {
    var name = document.getElementById(slug.getAttribute("data-slug-from"));
    var edited = slug.value !== "";
    function show() {
      document.querySelectorAll("[data-slug-preview]").forEach(function (span) {
        span.textContent = slug.value || "your-api";
      });
    }
    slug.addEventListener("input", function () { edited = slug.value !== ""; show(); });
    if (name) name.addEventListener("input", function () {
      if (!edited) { slug.value = slugify(name.value); show(); }
    });
    show();
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-slug-from]").forEach(initSlug);
  });

  // htmx: send the CSRF token with every request.
  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.querySelector("meta[name=csrf-token]");
    if (token) event.detail.headers["X-CSRFToken"] = token.content;
  });
})();
