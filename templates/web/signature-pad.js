// The signature pad of the counter (the consent at registration, the contract step): the
// citizen draws with a finger, a pen or the mouse (pointer events), and the drawing goes into
// its form as a PNG data URL when it is submitted. The server checks the image (a PNG with
// visible ink); this script only draws.
(function () {
  var canvas = document.getElementById('signature-pad');
  var field = document.getElementById('signature-image');
  var form = field && field.form;
  if (!canvas || !field || !form) return;
  var ctx = canvas.getContext('2d');
  var missing = document.getElementById('signature-missing');
  var drawn = false;
  var last = null;

  function pen() {
    ctx.lineWidth = 3;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.strokeStyle = '#10204a';
  }
  pen();

  // The canvas keeps its own pixel size whatever its size on screen (390 px phones too).
  function at(e) {
    var r = canvas.getBoundingClientRect();
    return {
      x: ((e.clientX - r.left) * canvas.width) / r.width,
      y: ((e.clientY - r.top) * canvas.height) / r.height,
    };
  }

  canvas.addEventListener('pointerdown', function (e) {
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    last = at(e);
    ctx.beginPath();
    ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, 2 * Math.PI);
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fill();
    drawn = true;
  });
  canvas.addEventListener('pointermove', function (e) {
    if (!last) return;
    e.preventDefault();
    var p = at(e);
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    last = p;
  });
  function end() {
    last = null;
  }
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);

  document.getElementById('signature-clear').addEventListener('click', function () {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    drawn = false;
    field.value = '';
  });

  // A refused attempt comes back with its drawing: shown again, so the citizen need not
  // sign twice for a mistyped code.
  if (field.value) {
    var img = new Image();
    img.onload = function () {
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      drawn = true;
    };
    img.src = field.value;
  }

  form.addEventListener('submit', function (e) {
    if (!drawn) {
      e.preventDefault();
      if (missing) missing.hidden = false;
      return;
    }
    field.value = canvas.toDataURL('image/png');
  });
  // Listeners attached: a drawing made from now on is kept (the browser tests wait for this).
  canvas.dataset.ready = '1';
})();
