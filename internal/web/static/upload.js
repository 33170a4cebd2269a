// The upload page: ask sharesvc for a presigned PUT for this file, then
// send the file straight to the object store, showing progress.
(function () {
  var form = document.getElementById('upload');
  if (!form) return;
  var input = document.getElementById('file');
  var bar = document.getElementById('progress');
  var status = document.getElementById('status');
  var say = function (text, cls) { status.textContent = text; status.className = cls || ''; };
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var file = input.files[0];
    if (!file) { say('Choose a file first.', 'bad'); return; }
    form.querySelector('button').disabled = true;
    say('Preparing the upload…');
    fetch(location.pathname + '/presign', {
      method: 'POST', credentials: 'omit',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
      body: JSON.stringify({ size: file.size, content_type: file.type })
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      if (!res.ok) {
        say(res.body.title + (res.body.detail ? ': ' + res.body.detail : ''), 'bad');
        return;
      }
      var x = new XMLHttpRequest();
      x.open('PUT', res.body.url);
      if (res.body.content_type) x.setRequestHeader('Content-Type', res.body.content_type);
      var hs = res.body.headers || {};
      Object.keys(hs).forEach(function (h) { x.setRequestHeader(h, hs[h]); });
      bar.hidden = false;
      x.upload.onprogress = function (ev) {
        if (ev.lengthComputable) { bar.max = ev.total; bar.value = ev.loaded; }
      };
      x.onload = function () {
        if (x.status >= 200 && x.status < 300) {
          bar.value = bar.max;
          say('Uploaded ' + file.name + ' (' + file.size + ' bytes).', 'ok');
        } else {
          say(x.status === 412 ? 'A file of that name was already uploaded; it is never replaced.' : 'The upload was refused (' + x.status + ').', 'bad');
        }
      };
      x.onerror = function () { say('The upload failed: the object store could not be reached.', 'bad'); };
      x.send(file);
    }).catch(function () { say('The upload could not start.', 'bad'); });
  });
})();
