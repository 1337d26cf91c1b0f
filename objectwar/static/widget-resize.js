/* Optional, for partner sites that embed the #ObjectWarCampaign petition widget:
   makes each widget's frame as tall as the widget. Load it from the campaign's own
   host, after the iframe:
     <script src="https://CAMPAIGN-HOST/static/widget-resize.js" async></script>
   It listens only to messages from the host it was loaded from, and only resizes
   frames that show that host's petition widget. Without it the frame keeps the
   height written in the snippet. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.URL) { return; }
  var ours = new URL(script.src, window.location.href).origin;
  var widget = /\/petitions\/[^\/]+\/embed$/;
  window.addEventListener("message", function (event) {
    var data = event.data;
    if (event.origin !== ours || !data || data.objectwar !== "widget-height") { return; }
    var height = Number(data.height);
    if (!isFinite(height) || height < 100) { return; }
    var frames = document.getElementsByTagName("iframe");
    for (var i = 0; i < frames.length; i += 1) {
      var frame = frames[i];
      if (frame.contentWindow !== event.source) { continue; }
      var src = new URL(frame.src, window.location.href);
      if (src.origin === ours && widget.test(src.pathname)) {
        // The frame's border is outside its content box unless the page says otherwise.
        var border = frame.offsetHeight - frame.clientHeight;
        frame.style.height = (Math.min(height, 10000) +
          (window.getComputedStyle(frame).boxSizing === "border-box" ? border : 0)) + "px";
      }
    }
  });
}());
