/* The petition widget tells the page that frames it how tall it is, so that the
   partner's optional widget-resize.js can fit the frame to it. The height is no
   secret: any page may hear it. */
(function () {
  "use strict";
  if (window.parent === window) { return; }
  var last = 0;
  function post() {
    var height = Math.ceil(document.body.getBoundingClientRect().height);
    if (height && height !== last) {
      last = height;
      window.parent.postMessage({objectwar: "widget-height", height: height}, "*");
    }
  }
  if (window.ResizeObserver) { new ResizeObserver(post).observe(document.body); }
  window.addEventListener("load", post);
  post();
}());
