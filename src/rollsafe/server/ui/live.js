// rollsafe dashboard: live updates over Server-Sent Events. Written for rollsafe
// (Apache-2.0, as the rest of the project); no library.
(function () {
  "use strict";
  var main = document.querySelector("[data-live]");
  if (!main || !window.EventSource) { return; }
  var source = new EventSource(main.getAttribute("data-live"));
  source.addEventListener("update", function (event) {
    main.innerHTML = event.data;
    main.setAttribute("data-seq", event.lastEventId);
    document.dispatchEvent(new CustomEvent("rollsafe:updated", {detail: event.lastEventId}));
  });
  source.addEventListener("signed-out", function () {
    source.close();
    window.location.href = "/ui/login";
  });
})();
