// The upload page: ask sharesvc for a presigned PUT for this file, send the
// file straight to the object store showing progress (percent and speed,
// with a cancel button), then tell sharesvc it arrived (POST …/done), so
// that the sharer finds it under its own name. Every failure ends in one
// message saying what to do.
(function () {
  var form = document.getElementById('upload');
  if (!form) return;
  var input = document.getElementById('file');
  var send = document.getElementById('send');
  var cancel = document.getElementById('cancel');
  var bar = document.getElementById('progress');
  var status = document.getElementById('status');
  var maxBytes = Number(form.dataset.maxBytes || 0);
  var wantType = form.dataset.contentType || '';
  var xhr = null;
  var say = function (text, cls) { status.textContent = text; status.className = cls || ''; };
  var size = function (n) {
    var u = ['bytes', 'kB', 'MB', 'GB', 'TB'], i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return (i === 0 ? n : n < 10 ? n.toFixed(1) : Math.round(n)) + ' ' + u[i];
  };
  var finish = function (text, cls) {
    say(text, cls);
    send.disabled = false;
    cancel.hidden = true;
    xhr = null;
  };
  var problem = function (body, fallback) {
    if (body && body.title) return body.title + (body.detail ? ': ' + body.detail : '') + '.';
    return fallback;
  };
  cancel.addEventListener('click', function () {
    if (xhr) xhr.abort();
  });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var file = input.files[0];
    if (!file) { say('Choose a file first.', 'bad'); return; }
    if (maxBytes && file.size > maxBytes) {
      say(file.name + ' is ' + size(file.size) + '; this link accepts at most ' + (form.dataset.maxSize || size(maxBytes)) + '.', 'bad');
      return;
    }
    if (wantType && file.type !== wantType) {
      say('This link accepts only ' + wantType + ' files; ' + file.name + ' is ' + (file.type || 'of an unknown type') + '.', 'bad');
      return;
    }
    send.disabled = true;
    bar.hidden = true;
    say('Preparing the upload…');
    fetch(location.pathname + '/presign', {
      method: 'POST', credentials: 'omit',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
      body: JSON.stringify({ size: file.size, content_type: wantType || file.type, filename: file.name })
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; }, function () { return { ok: false }; });
    }).then(function (res) {
      if (!res.ok) { finish(problem(res.body, 'The upload could not start; try again later.'), 'bad'); return; }
      var upload = res.body.upload;
      var x = xhr = new XMLHttpRequest();
      x.open('PUT', res.body.url);
      if (res.body.content_type) x.setRequestHeader('Content-Type', res.body.content_type);
      var hs = res.body.headers || {};
      Object.keys(hs).forEach(function (h) { x.setRequestHeader(h, hs[h]); });
      var started = Date.now();
      bar.hidden = false; bar.max = file.size || 1; bar.value = 0;
      cancel.hidden = false;
      x.upload.onprogress = function (ev) {
        if (!ev.lengthComputable) return;
        bar.max = ev.total || 1; bar.value = ev.loaded;
        var secs = (Date.now() - started) / 1000;
        var pct = ev.total ? Math.floor(100 * ev.loaded / ev.total) : 100;
        say(pct + '% of ' + size(ev.total) + (secs > 0.2 ? ' — ' + size(ev.loaded / secs) + '/s' : ''));
      };
      x.onabort = function () { bar.hidden = true; finish('Upload cancelled. Nothing was kept; choose Upload to start again.', 'bad'); };
      x.onerror = function () { finish('The upload failed: the connection to the file store broke. Try again.', 'bad'); };
      x.onload = function () {
        if (x.status < 200 || x.status >= 300) {
          finish(x.status === 412 ? 'A file was already uploaded through this link; it is never replaced.' :
            'The file store refused the upload (' + x.status + '). Try again, or ask for a new link.', 'bad');
          return;
        }
        bar.value = bar.max;
        cancel.hidden = true;
        say('Finishing…');
        fetch(location.pathname + '/done', {
          method: 'POST', credentials: 'omit',
          headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
          body: JSON.stringify({ upload: upload })
        }).then(function (r) {
          if (r.ok) { finish('Uploaded ' + file.name + ' (' + size(file.size) + '). The sharer has it.', 'ok'); return; }
          return r.json().then(function (body) { finish(problem(body, 'The file was sent, but its arrival could not be recorded.'), 'bad'); });
        }).catch(function () { finish('The file was sent, but its arrival could not be recorded.', 'bad'); });
      };
      x.send(file);
    }).catch(function () { finish('The upload could not start: this service could not be reached. Try again.', 'bad'); });
  });
})();
