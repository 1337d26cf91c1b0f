// The progress of a mail-out while it sends: its figures fetched from the page's
// progress.json every few seconds, instead of a <meta http-equiv=refresh> (a critical
// accessibility failure for axe-core). Without JavaScript the page shows a refresh link.
(function () {
  "use strict";
  var INTERVAL = 5000;

  function start() {
    var section = document.querySelector("[data-progress-url]");
    if (!section || !window.fetch) {
      return;
    }
    var url = section.getAttribute("data-progress-url");
    var bar = section.querySelector("progress");
    var link = section.querySelector("[data-refresh-link]");
    var note = section.querySelector("[data-refresh-note]");

    function live(on) {
      link.hidden = on;
      note.hidden = !on;
    }

    function show(data) {
      Object.keys(data.display).forEach(function (key) {
        var figure = document.querySelector('[data-figure="' + key + '"]');
        if (figure) {
          figure.textContent = data.display[key];
        }
        var row = section.querySelector('[data-row="' + key + '"]');
        if (row) {
          row.hidden = !data.display[key];
        }
      });
      bar.max = data.recipients || 1;
      bar.value = data.sent + data.failed + data.skipped;
      bar.textContent = data.sent + " / " + data.recipients;
    }

    function poll() {
      fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (data) {
          show(data);
          live(true);
          if (data.status !== "sending") {
            // Paused, sent or cancelled: the page's actions change too.
            window.location.reload();
            return;
          }
          window.setTimeout(poll, INTERVAL);
        })
        .catch(function () {
          live(false);  // the link still works; try again, less often
          window.setTimeout(poll, INTERVAL * 3);
        });
    }

    live(true);
    window.setTimeout(poll, INTERVAL);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
