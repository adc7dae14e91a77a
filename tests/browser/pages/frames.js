// SPDX-License-Identifier: Apache-2.0
// Builds one frame of each kind (same origin, cross origin, sandboxed, CSP
// sandbox, data: URL, srcdoc with its parent's origin, sandboxed srcdoc) and collects what each one's probe reports.
'use strict';
(() => {
  const port = location.port;
  const here = `http://127.0.0.1:${port}`;
  const other = `http://localhost:${port}`;
  const probe = `${here}/frame.js`;
  const frames = [
    { name: 'same-origin', src: `${here}/frame.html?name=same-origin` },
    { name: 'cross-origin', src: `${other}/frame.html?name=cross-origin` },
    { name: 'sandboxed', src: `${here}/frame.html?name=sandboxed`, sandbox: 'allow-scripts' },
    { name: 'csp-sandbox', src: `${here}/frame.html?name=csp-sandbox&csp=sandbox` },
    { name: 'data-url', src: `data:text/html,${encodeURIComponent(`<meta charset="utf-8"><script>window.FRAME_NAME='data-url'</script><script src="${probe}"></script>`)}` },
    { name: 'srcdoc', srcdoc: `<meta charset="utf-8"><script>window.FRAME_NAME='srcdoc'</script><script src="${probe}"></script>` },
    { name: 'srcdoc-sandboxed', srcdoc: `<meta charset="utf-8"><script>window.FRAME_NAME='srcdoc-sandboxed'</script><script src="${probe}"></script>`, sandbox: 'allow-scripts' },
  ];
  const reports = {};
  window.frameReports = new Promise((resolve) => {
    const done = () => resolve(reports);
    const timer = setTimeout(done, 60000);
    window.addEventListener('message', (event) => {
      const report = event.data?.frameReport;
      if (!report) return;
      reports[report.name] = report;
      if (Object.keys(reports).length === frames.length) {
        clearTimeout(timer);
        done();
      }
    });
  });
  for (const f of frames) {
    const iframe = document.createElement('iframe');
    if (f.sandbox !== undefined) iframe.setAttribute('sandbox', f.sandbox);
    if (f.srcdoc !== undefined) iframe.srcdoc = f.srcdoc;
    else iframe.src = f.src;
    document.body.append(iframe);
  }
  if (new URLSearchParams(location.search).get('report') === '1') {
    window.frameReports.then((r) => fetch('/report', {
      method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ origin: location.origin, frames: Object.values(r) }),
    }));
  }
})();
