// Lease countdown on the video-call workstation. A convenience only: the page states the lease's
// end time without it, and the server decides whether the lease holds. It counts down from the
// server's figure at page load, so a wrong clock on the operator's computer does not matter.
(function () {
  var el = document.getElementById('lease-left');
  if (!el) return;
  var parts = el.textContent.split(':');
  var end = Date.now() + (Number(parts[0]) * 60 + Number(parts[1])) * 1000;
  function tick() {
    var left = Math.max(0, Math.round((end - Date.now()) / 1000));
    if (left === 0) {
      el.textContent = el.getAttribute('data-expired-text');
      el.classList.add('lapsed');
      return;
    }
    el.textContent = String(Math.floor(left / 60)).padStart(2, '0') + ':' + String(left % 60).padStart(2, '0');
    setTimeout(tick, 1000);
  }
  tick();
})();
