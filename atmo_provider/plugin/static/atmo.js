/*
 * The ATMO tab's small script, no build step.
 *
 * - Pages whose body has data-modified-date send a HEAD request to their own URL every
 *   60 seconds. When the X-ATMO-Modified-Date header differs from the value the page was
 *   rendered with, a notice asks to refresh and the polling stops.
 * - Forms with data-confirm ask before they are sent.
 */
(function () {
  "use strict";

  var POLL_INTERVAL_MS = 60 * 1000;
  var HEADER = "X-ATMO-Modified-Date";

  function showRefreshNotice() {
    var notice = document.getElementById("atmo-refresh");
    if (notice) {
      notice.hidden = false;
    }
  }

  function watchForChanges(body) {
    var known = body.getAttribute("data-modified-date") || "";
    var timer = window.setInterval(function () {
      window.fetch(window.location.href, {
        method: "HEAD",
        credentials: "same-origin",
        cache: "no-store"
      }).then(function (response) {
        if (!response.ok) {
          // Logged out or gone: a refresh would tell more than this notice.
          window.clearInterval(timer);
          return;
        }
        var current = response.headers.get(HEADER) || "";
        if (current !== known) {
          window.clearInterval(timer);
          showRefreshNotice();
        }
      }).catch(function () {
        // The network hiccupped; try again at the next tick.
      });
    }, POLL_INTERVAL_MS);
  }

  function confirmBeforeSubmit(form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.body.hasAttribute("data-modified-date")) {
      watchForChanges(document.body);
    }
    document.querySelectorAll("form[data-confirm]").forEach(confirmBeforeSubmit);
  });
})();
