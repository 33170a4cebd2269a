// Copy-to-clipboard for buttons with data-copy="ID of an input".
document.addEventListener('click', function (e) {
  var b = e.target.closest('button[data-copy]');
  if (!b) return;
  e.preventDefault();
  var input = document.getElementById(b.getAttribute('data-copy'));
  input.select();
  var done = function () { b.textContent = 'Copied'; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand('copy'); done(); });
  } else {
    document.execCommand('copy');
    done();
  }
});

// Forms with data-confirm="question" ask before they are sent.
document.addEventListener('submit', function (e) {
  var q = e.target.getAttribute && e.target.getAttribute('data-confirm');
  if (q && !window.confirm(q)) e.preventDefault();
});
