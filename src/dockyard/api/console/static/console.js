// Dockyard console: progressive enhancement only. Every page works without this file.
// Copy buttons put their data-copy text on the clipboard; the text stays visible to select.
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("button.copy");
  if (!button) { return; }
  var text = button.getAttribute("data-copy") || "";
  var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () { button.textContent = "Select the text to copy"; });
  } else {
    button.textContent = "Select the text to copy";
  }
});
