// Sharing a file from the links page: ask sharesvc for presigned PUTs
// (POST /ui/files), send the file straight to the object store part by
// part with progress, cancel and retry, confirm it (POST
// /ui/files/complete), then submit the page's link form on the new key.
(function () {
  var drop = document.getElementById('share-drop');
  var form = document.getElementById('create');
  if (!drop || !form) return;
  var csrf = drop.getAttribute('data-csrf');
  var input = document.getElementById('share-file');
  var bar = document.getElementById('share-progress');
  var status = document.getElementById('share-status');
  var cancelBtn = document.getElementById('share-cancel');
  var retryBtn = document.getElementById('share-retry');
  var say = function (text, cls) { status.textContent = text; status.className = cls || ''; };
  var PART = 8 * 1024 * 1024; // files over 16 MiB go in parts of 8 MiB
  var job = null;

  var post = function (path, fields) {
    var body = new URLSearchParams();
    body.set('csrf', csrf);
    Object.keys(fields).forEach(function (k) { body.set(k, fields[k]); });
    return fetch(path, { method: 'POST', credentials: 'same-origin', headers: { 'Accept': 'application/json' }, body: body })
      .then(function (r) {
        return r.json().catch(function () { return { title: 'Refused (' + r.status + ')' }; })
          .then(function (b) { if (!r.ok) throw new Error(b.title + (b.detail ? ': ' + b.detail : '')); return b; });
      });
  };
  var mb = function (n) { return (n / 1048576).toFixed(1) + ' MB'; };

  var sendPart = function (j, i) {
    return new Promise(function (resolve, reject) {
      var p = j.parts[i];
      var x = new XMLHttpRequest();
      j.xhr = x;
      x.open('PUT', p.url);
      Object.keys(p.headers || {}).forEach(function (h) { x.setRequestHeader(h, p.headers[h]); });
      x.upload.onprogress = function (ev) {
        var done = j.done + ev.loaded;
        var secs = (Date.now() - j.started) / 1000;
        var sent = done - j.base;
        bar.max = j.file.size; bar.value = done;
        say('Uploading ' + j.file.name + ': ' + Math.floor(100 * done / j.file.size) + '% (' + mb(done) + ' of ' + mb(j.file.size) +
          (secs > 0 ? ', ' + mb(sent / secs) + '/s' : '') + ')');
      };
      x.onload = function () {
        if (x.status >= 200 && x.status < 300) { resolve(x.getResponseHeader('ETag')); return; }
        reject(new Error('the object store answered ' + x.status));
      };
      x.onerror = function () { reject(new Error('the object store could not be reached')); };
      x.onabort = function () { reject(new Error('cancelled')); };
      x.send(j.file.slice(p.offset, p.offset + p.size));
    });
  };

  // run sends the parts from j.next on, each tried up to 3 times; on a
  // failure it stops there and offers Retry, which resumes at that part.
  var run = function (j) {
    retryBtn.hidden = true; cancelBtn.hidden = false;
    var attempt = 0;
    var step = function () {
      if (j.cancelled) return Promise.reject(new Error('cancelled'));
      if (j.next >= j.parts.length) return Promise.resolve();
      return sendPart(j, j.next).then(function (etag) {
        j.etags[j.next] = etag; j.done += j.parts[j.next].size; j.next++; attempt = 0;
        return step();
      }, function (err) {
        if (j.cancelled || ++attempt >= 3) throw err;
        return step();
      });
    };
    return step().then(function () {
      cancelBtn.hidden = true;
      say('Checking the upload…');
      var f = { bucket: j.up.bucket, key: j.up.key, size: j.file.size };
      if (j.up.upload_id) {
        f.upload_id = j.up.upload_id; f.part_size = j.up.part_size;
        f.parts = JSON.stringify(j.etags.map(function (e, i) { return { number: i + 1, etag: e }; }));
      }
      return post('/ui/files/complete', f);
    }).then(function () {
      say('Uploaded ' + j.file.name + '. Creating the link…', 'ok');
      form.querySelector('[name=kind]').value = 'download';
      form.querySelector('[name=bucket]').value = j.up.bucket;
      form.querySelector('[name=key]').value = j.up.key;
      var fn = form.querySelector('[name=filename]');
      if (!fn.value) fn.value = j.file.name;
      form.submit();
    }).catch(function (err) {
      cancelBtn.hidden = true;
      if (j.cancelled) { say('Cancelled.', 'bad'); return; }
      say('The upload of part ' + (j.next + 1) + ' of ' + j.parts.length + ' failed: ' + err.message + '.', 'bad');
      retryBtn.hidden = false;
    });
  };

  var start = function (file) {
    if (!file) return;
    if (job && !job.cancelled && job.xhr) { job.cancelled = true; job.xhr.abort(); }
    say('Preparing the upload of ' + file.name + '…');
    bar.hidden = false; bar.max = file.size || 1; bar.value = 0;
    var fields = { filename: file.name, size: file.size, content_type: file.type || '',
      bucket: form.querySelector('[name=bucket]').value };
    if (file.size > 2 * PART) fields.part_size = PART;
    post('/ui/files', fields).then(function (up) {
      var parts = up.upload_id ? up.parts.map(function (p) {
        return { url: p.url, size: p.size, offset: (p.number - 1) * up.part_size };
      }) : [{ url: up.url, size: file.size, offset: 0, headers: up.headers }];
      job = { file: file, up: up, parts: parts, etags: [], next: 0, done: 0, base: 0, started: Date.now(), cancelled: false };
      return run(job);
    }).catch(function (err) { say(err.message, 'bad'); });
  };

  input.addEventListener('change', function () { start(input.files[0]); });
  cancelBtn.addEventListener('click', function () {
    if (!job) return;
    job.cancelled = true;
    if (job.xhr) job.xhr.abort();
  });
  retryBtn.addEventListener('click', function () {
    if (!job) return;
    job.started = Date.now() - 1; job.base = job.done; job.cancelled = false;
    run(job);
  });
  drop.addEventListener('dragover', function (e) { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', function () { drop.classList.remove('over'); });
  drop.addEventListener('drop', function (e) {
    e.preventDefault(); drop.classList.remove('over');
    if (e.dataTransfer.files.length) start(e.dataTransfer.files[0]);
  });
})();
