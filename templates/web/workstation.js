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

// Document viewer: an image opens enlarged in a dialog where it can be zoomed and rotated.
// Without the script each image is a link that opens it on its own.
(function () {
  var dialog = document.getElementById('viewer');
  var image = document.getElementById('viewer-image');
  var title = document.getElementById('viewer-title');
  if (!dialog || !image || typeof dialog.showModal !== 'function') return;
  var scale = 1;
  var turn = 0;
  function apply() {
    image.style.transform = 'scale(' + scale + ') rotate(' + turn + 'deg)';
  }
  Array.prototype.forEach.call(document.querySelectorAll('a.doc-open'), function (link) {
    link.addEventListener('click', function (event) {
      event.preventDefault();
      var shown = link.querySelector('img');
      image.src = shown.src;
      image.alt = shown.alt;
      title.textContent = shown.alt;
      scale = 1;
      turn = 0;
      apply();
      dialog.showModal();
    });
  });
  dialog.addEventListener('click', function (event) {
    var act = event.target.getAttribute && event.target.getAttribute('data-viewer');
    if (act === 'zoom-in') scale = Math.min(scale * 1.25, 8);
    else if (act === 'zoom-out') scale = Math.max(scale / 1.25, 0.25);
    else if (act === 'rotate') turn = (turn + 90) % 360;
    else if (act === 'close') dialog.close();
    else return;
    apply();
  });
})();
