// Small enhancements on top of htmx; every page works without this file.
(function () {
  "use strict";
  // Show upload progress of forms that carry data-progress="<id of a <progress> element>".
  document.addEventListener("htmx:xhr:progress", function (event) {
    var form = event.target.closest ? event.target.closest("form[data-progress]") : null;
    if (!form || !event.detail.lengthComputable) { return; }
    var bar = document.getElementById(form.getAttribute("data-progress"));
    if (bar) {
      bar.hidden = false;
      bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
    }
  });
  // Ask before destructive buttons marked data-confirm (htmx-free forms too).
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var message = button && button.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); event.stopImmediatePropagation(); }
  }, true);
})();
