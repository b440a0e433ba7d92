// The host's HTML dashboard (GET /-/preview): the served repositories and previews, their recent requests, a live
// log toggle (the page polls /-/preview.json), and the admin actions (the same API the JSON clients use).
import type {HostStatus} from './host.js'

const esc = (s: unknown): string =>
  String(s ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;')

/** `link(name)`: the URL of a served name (signed when the host has a secret: the dashboard is admin-only). */
export function dashboardHtml(
  status: HostStatus,
  repos: {label: string | null; path: string; paused: boolean}[],
  link: (name: string) => string,
): string {
  const rows = status.sub_servers
    .map(
      (
        s,
      ) => `<tr><td><a href="${esc(link(s.name))}">${esc(s.name)}</a></td><td class="st-${esc(s.status)}">${esc(s.status)}</td><td>${esc(s.ref)}</td><td><code>${esc(s.commit?.slice(0, 10))}</code></td><td>${esc(s.port)}</td><td>${esc(s.pid)}</td><td>${esc(s.uptime_seconds)}</td><td>${esc(s.restart_attempts)}</td><td>${esc(s.last_request_seconds_ago)}</td><td>${esc(s.seconds_until_idle)}</td></tr>
<tr class="detail"><td colspan="10"><details><summary>recent requests (${s.recent_requests.length})</summary><table class="req">${s.recent_requests
        .slice(-20)
        .reverse()
        .map(
          (r) =>
            `<tr><td>${esc(new Date(r.at_epoch * 1000).toISOString())}</td><td>${esc(r.method)}</td><td>${esc(r.path)}</td><td>${esc(r.status)}</td><td>${esc(r.duration_ms)} ms</td><td>${esc(r.bytes)} B</td></tr>`,
        )
        .join('')}</table></details><pre class="log" data-name="${esc(s.name)}" hidden>${esc(s.recent_logs.join('\n'))}</pre></td></tr>`,
    )
    .join('\n')
  const repoRows = repos
    .map(
      (r) =>
        `<tr><td>${esc(r.label ?? '(single)')}</td><td>${esc(r.path)}</td><td>${r.paused ? 'paused' : 'served'}</td><td>${
          r.label === null
            ? ''
            : `<button data-act="${r.paused ? 'resume' : 'pause'}" data-label="${esc(r.label)}">${r.paused ? 'resume' : 'pause'}</button> <button data-act="remove" data-label="${esc(r.label)}">remove</button>`
        }</td></tr>`,
    )
    .join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>preview serve</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left}
.st-running{color:#080}.st-starting{color:#a60}.st-idle{color:#888}.st-crashed{color:#c00}pre.log{background:#111;color:#eee;padding:8px;max-height:20em;overflow:auto}.req td{border:0;font-size:12px}</style></head>
<body><h1>preview serve</h1>
<p>status: <b>${esc(status.status)}</b> · running servers: <b id="running">${status.running_servers}</b> · idle TTL: ${status.idle_ttl_seconds}s · <a href="/-/preview.json">JSON</a> · <a href="/-/preview/metrics">metrics</a> · <label><input type="checkbox" id="live"> live logs</label></p>
<h2>Previews</h2>
<table><thead><tr><th>name</th><th>status</th><th>ref</th><th>commit</th><th>port</th><th>pid</th><th>uptime s</th><th>restarts</th><th>last request s ago</th><th>idle in s</th></tr></thead><tbody>
${rows || '<tr><td colspan="10">No preview has been requested yet.</td></tr>'}
</tbody></table>
<h2>Repositories</h2>
<table><thead><tr><th>label</th><th>path</th><th>state</th><th></th></tr></thead><tbody>${repoRows}</tbody></table>
<form id="add"><input name="label" placeholder="label" required> <input name="path" placeholder="/path/to/repo" required size="40"> <button>add</button></form>
<script>
async function act(action, body) {
  const r = await fetch('/-/preview/repos/' + action, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body), credentials: 'same-origin'})
  if (!r.ok) alert((await r.json()).error?.message ?? r.status)
  location.reload()
}
for (const b of document.querySelectorAll('button[data-act]')) b.onclick = () => act(b.dataset.act, {label: b.dataset.label})
document.getElementById('add').onsubmit = (e) => { e.preventDefault(); const f = new FormData(e.target); act('add', {label: f.get('label'), path: f.get('path')}) }
let timer = null
document.getElementById('live').onchange = (e) => {
  for (const p of document.querySelectorAll('pre.log')) p.hidden = !e.target.checked
  clearInterval(timer)
  if (!e.target.checked) return
  timer = setInterval(async () => {
    const s = await (await fetch('/-/preview.json', {credentials: 'same-origin'})).json()
    document.getElementById('running').textContent = s.running_servers
    for (const sub of s.sub_servers) { const p = document.querySelector('pre.log[data-name="' + CSS.escape(sub.name) + '"]'); if (p) { p.textContent = sub.recent_logs.join('\\n'); p.scrollTop = p.scrollHeight } }
  }, 2000)
}
</script></body></html>
`
}
