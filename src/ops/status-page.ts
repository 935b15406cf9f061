// The HTML of GET /status: one self-contained page (inline CSS and script, no
// external resource of any kind) rendered from a StatusSnapshot, so it shows the
// current figures without JavaScript; the script then refreshes every figure from
// /status.json every few seconds. The Content-Security-Policy allows exactly the
// inline style and script below, by hash, and a fetch to the same origin.
import { createHash } from 'node:crypto';
import { ADMISSION_REASONS, DIRECTIONS, ENDPOINTS, UPGRADE_OUTCOMES, type LiveNode, type StatusSnapshot } from './status.js';

/** How often the page's script fetches /status.json. */
const REFRESH_MS = 2000;

const STYLE = `
:root{--bg:#f6f7f9;--card:#fff;--fg:#1b1f24;--dim:#5b6470;--line:#dde1e6;--ok:#1a7f37;--bad:#cf222e;--a:#0969da;--b:#bf8700}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--card:#161b22;--fg:#e6edf3;--dim:#8d96a0;--line:#30363d;--ok:#3fb950;--bad:#f85149;--a:#58a6ff;--b:#d29922}}
*{box-sizing:border-box}
body{margin:0;padding:16px 20px 32px;background:var(--bg);color:var(--fg);font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:6px 18px;margin-bottom:14px}
h1{font-size:20px;margin:0}
h2{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:var(--dim);margin:0 0 8px}
.meta{color:var(--dim)}
.state{font-weight:600;padding:1px 8px;border-radius:10px;border:1px solid currentColor}
.state.live{color:var(--ok)}.state.stale{color:var(--bad)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:10px;margin-bottom:12px}
.tile,.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.tile .n{font-size:22px;white-space:nowrap;font-weight:600;font-variant-numeric:tabular-nums}
.tile .l{color:var(--dim);font-size:12px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(400px,100%),1fr));gap:12px}
a{color:var(--a)}
.card{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums}
th,td{text-align:right;padding:3px 5px;border-bottom:1px solid var(--line);white-space:nowrap}
th:first-child,td:first-child{text-align:left}
th{color:var(--dim);font-weight:500;font-size:12px}
th.g{text-align:center}
td.hot{color:var(--bad);font-weight:600}
svg{width:100%;height:60px;display:block;margin-top:8px}
polyline{fill:none;stroke-width:1.5}
.sa{stroke:var(--a)}.sb{stroke:var(--b)}
.key{font-size:12px;color:var(--dim)}.key .a{color:var(--a)}.key .b{color:var(--b)}
footer{margin-top:16px;color:var(--dim);font-size:12px}
code{font-size:12px}
`;

/** Formatting shared in spirit with the script below: both must print a value the same way. */
const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtRate = (n: number): string => (n < 10 ? n.toFixed(1) : fmtInt(n));
function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(n)} B` : `${n.toFixed(1)} ${units[i]}`;
}
function fmtDur(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${sec}s`;
  return `${sec}s`;
}
const fmtMs = (n: number): string => `${n.toFixed(1)} ms`;
const fmtWindow = (s: number): string => (s >= 60 ? `last ${Math.round(s / 60)} min` : `last ${s} s`);
const fmtTime = (t: number): string => `${new Date(t).toISOString().slice(11, 19)} UTC`;

/** Polyline points for a sparkline in a 300×60 box, scaled to the larger of the series. */
function points(series: number[], max: number): string {
  if (series.length < 2) return '';
  const top = max > 0 ? max : 1;
  return series.map((v, i) => `${((i * 300) / (series.length - 1)).toFixed(1)},${(58 - (v / top) * 54).toFixed(1)}`).join(' ');
}

const SCRIPT = `(function(){
"use strict";
var REFRESH=${REFRESH_MS};
function fmtInt(n){return Math.round(n).toLocaleString("en-US");}
function fmtRate(n){return n<10?n.toFixed(1):fmtInt(n);}
function fmtBytes(n){var u=["B","KiB","MiB","GiB","TiB"],i=0;while(n>=1024&&i<u.length-1){n/=1024;i++;}return i===0?Math.round(n)+" B":n.toFixed(1)+" "+u[i];}
function fmtDur(s){var d=Math.floor(s/86400),h=Math.floor(s%86400/3600),m=Math.floor(s%3600/60),x=Math.floor(s%60);if(d>0)return d+"d "+h+"h";if(h>0)return h+"h "+m+"m";if(m>0)return m+"m "+x+"s";return x+"s";}
function fmtMs(n){return n.toFixed(1)+" ms";}
function fmtWindow(s){return s>=60?"last "+Math.round(s/60)+" min":"last "+s+" s";}
function fmtTime(t){return new Date(t).toISOString().slice(11,19)+" UTC";}
function points(a,max){if(a.length<2)return "";var top=max>0?max:1,out=[];for(var i=0;i<a.length;i++)out.push((i*300/(a.length-1)).toFixed(1)+","+(58-a[i]/top*54).toFixed(1));return out.join(" ");}
function set(id,text){var e=document.getElementById(id);if(e!==null&&e.textContent!==text)e.textContent=text;}
function hot(id,on){var e=document.getElementById(id);if(e!==null)e.className=on?"hot":"";}
function line(id,a,max){var e=document.getElementById(id);if(e!==null)e.setAttribute("points",points(a,max));}
function win(s,k,w){set(k+"-recent",fmtInt(w.recent));set(k+"-total",fmtInt(w.total));hot(k+"-recent",s&&w.recent>0);}
function apply(s){
set("v-version",s.version);set("v-rate-s",String(s.rate_seconds));set("v-uptime",fmtDur(s.uptime_seconds));set("v-updated",fmtTime(s.time));
set("v-binaries",fmtInt(s.connections.binaries));set("v-phones",fmtInt(s.connections.phones));set("v-open",fmtInt(s.connections.open));
set("v-queued",fmtBytes(s.queued_bytes));set("v-lag",fmtMs(s.event_loop.p99_ms));set("v-lagmax",fmtMs(s.event_loop.max_ms));
set("v-rss",fmtBytes(s.memory.rss_bytes));set("v-heap",fmtBytes(s.memory.heap_used_bytes));
var ws=document.querySelectorAll(".v-window");for(var i=0;i<ws.length;i++)ws[i].textContent=fmtWindow(s.window_seconds);
${JSON.stringify(DIRECTIONS)}.forEach(function(d){
set("v-frames-rate-"+d,fmtRate(s.frames[d].per_second));set("v-frames-total-"+d,fmtInt(s.frames[d].total));
set("v-bytes-rate-"+d,fmtBytes(s.bytes[d].per_second)+"/s");set("v-bytes-total-"+d,fmtBytes(s.bytes[d].total));});
var h=s.history,fm=Math.max.apply(null,[0].concat(h.frames_per_second.phone_to_binary,h.frames_per_second.binary_to_phone)),cm=Math.max.apply(null,[0].concat(h.phones,h.binaries));
line("sp-frames-phone_to_binary",h.frames_per_second.phone_to_binary,fm);line("sp-frames-binary_to_phone",h.frames_per_second.binary_to_phone,fm);
line("sp-phones",h.phones,cm);line("sp-binaries",h.binaries,cm);set("v-frames-peak",fmtRate(fm));set("v-conns-peak",fmtInt(cm));
for(var e in s.upgrades)for(var o in s.upgrades[e])win(o!=="accept","v-up-"+e+"-"+o,s.upgrades[e][o]);
s.closes.forEach(function(c){win(true,"v-close-"+c.code,c);});
for(var r in s.admission_rejects)win(true,"v-adm-"+r,s.admission_rejects[r]);
win(true,"v-grace",s.grace_expiries);win(true,"v-dropped",s.envelopes_dropped);
if(s.push)for(var p in s.push)win(p!=="sent","v-push-"+p,s.push[p]);
function yn(b){return b===null?"—":b?"yes":"no";}
if(s.cluster){set("v-cl-nodes",fmtInt(s.cluster.live_nodes));set("v-cl-fenced",yn(s.cluster.fenced));hot("v-cl-fenced",s.cluster.fenced);set("v-cl-bus",yn(s.cluster.bus_ready));hot("v-cl-bus",s.cluster.bus_ready===false);}
var nb=document.getElementById("nodes-body");
if(nb!==null&&s.nodes){while(nb.firstChild)nb.removeChild(nb.firstChild);s.nodes.forEach(function(n){var tr=document.createElement("tr");
[n.id+(n.self?" (this node)":""),n.binaries===undefined?"—":fmtInt(n.binaries),n.phones===undefined?"—":fmtInt(n.phones),n.lastSeenSeconds===undefined?"—":fmtDur(n.lastSeenSeconds)+" ago"].forEach(function(t){var td=document.createElement("td");td.textContent=t;tr.appendChild(td);});nb.appendChild(tr);});set("v-nodes",fmtInt(s.nodes.length));}
var st=document.getElementById("st-state");st.textContent="live";st.className="state live";}
function stale(){var st=document.getElementById("st-state");st.textContent="stale";st.className="state stale";}
function tick(){fetch("status.json",{cache:"no-store"}).then(function(r){if(!r.ok)throw new Error(String(r.status));return r.json();}).then(apply).catch(stale).then(function(){setTimeout(tick,REFRESH);});}
setTimeout(tick,REFRESH);
})();`;

const sha256 = (s: string): string => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;

/** Only the inline style and script above; data only from the same origin; nothing may frame the page. */
export const STATUS_CSP = [
  "default-src 'none'",
  `style-src ${sha256(STYLE)}`,
  `script-src ${sha256(SCRIPT)}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const LABEL: Record<string, string> = {
  phone_to_binary: 'phone → binary',
  binary_to_phone: 'binary → phone',
  accept: 'accepted',
  reject_headers: '400 headers',
  reject_404: '4404 no server',
  reject_409: '4409 claimed',
  reject_429: '4429 phone cap',
  reject_rate_limit: '429 rate limit',
  rate_limit: '429 rate limit',
  conn_cap: '503 --max-connections',
  ip_conn_cap: '429 --max-connections-per-ip',
};

/** A row of a windowed table: recent count (flagged when a refusal happened recently) and total. */
function winRow(label: string, id: string, w: { recent: number; total: number }, flag: boolean): string {
  return `<tr><td>${esc(label)}</td><td id="${id}-recent"${flag && w.recent > 0 ? ' class="hot"' : ''}>${fmtInt(w.recent)}</td><td id="${id}-total">${fmtInt(w.total)}</td></tr>`;
}

function nodesCard(nodes: readonly LiveNode[]): string {
  const rows = nodes
    .map(
      (n) =>
        `<tr><td>${esc(n.id + (n.self ? ' (this node)' : ''))}</td><td>${n.binaries === undefined ? '—' : fmtInt(n.binaries)}</td>` +
        `<td>${n.phones === undefined ? '—' : fmtInt(n.phones)}</td><td>${n.lastSeenSeconds === undefined ? '—' : `${fmtDur(n.lastSeenSeconds)} ago`}</td></tr>`,
    )
    .join('');
  return `<section class="card"><h2>Cluster: <span id="v-nodes">${fmtInt(nodes.length)}</span> live nodes</h2>
<table><thead><tr><th>Node</th><th>Binaries</th><th>Phones</th><th>Heartbeat</th></tr></thead><tbody id="nodes-body">${rows}</tbody></table></section>`;
}

const yesNo = (b: boolean | null): string => (b === null ? '—' : b ? 'yes' : 'no');

function clusterCard(c: NonNullable<StatusSnapshot['cluster']>): string {
  return `<section class="card"><h2>Cluster (this node's view)</h2><table><tbody>
<tr><td>live nodes</td><td id="v-cl-nodes">${fmtInt(c.live_nodes)}</td></tr>
<tr><td>fenced (cut off, closing with 1012)</td><td id="v-cl-fenced"${c.fenced ? ' class="hot"' : ''}>${yesNo(c.fenced)}</td></tr>
<tr><td>frame bus ready</td><td id="v-cl-bus"${c.bus_ready === false ? ' class="hot"' : ''}>${yesNo(c.bus_ready)}</td></tr>
</tbody></table></section>`;
}

export function renderStatusPage(s: StatusSnapshot): string {
  const tile = (id: string, value: string, label: string): string =>
    `<div class="tile"><div class="n" id="${id}">${value}</div><div class="l">${label}</div></div>`;
  const h = s.history;
  const fm = Math.max(0, ...h.frames_per_second.phone_to_binary, ...h.frames_per_second.binary_to_phone);
  const cm = Math.max(0, ...h.phones, ...h.binaries);
  const win = `<span class="v-window">${fmtWindow(s.window_seconds)}</span>`;
  const traffic = DIRECTIONS.map(
    (d) =>
      `<tr><td>${LABEL[d]}</td><td id="v-frames-rate-${d}">${fmtRate(s.frames[d].per_second)}</td><td id="v-bytes-rate-${d}">${fmtBytes(s.bytes[d].per_second)}/s</td>` +
      `<td id="v-frames-total-${d}">${fmtInt(s.frames[d].total)}</td><td id="v-bytes-total-${d}">${fmtBytes(s.bytes[d].total)}</td></tr>`,
  ).join('');
  const upgrades = UPGRADE_OUTCOMES.map(
    (o) =>
      `<tr><td>${esc(LABEL[o] ?? o)}</td>` +
      ENDPOINTS.map((e) => {
        const w = s.upgrades[e][o];
        const flag = o !== 'accept' && w.recent > 0 ? ' class="hot"' : '';
        return `<td id="v-up-${e}-${o}-recent"${flag}>${fmtInt(w.recent)}</td><td id="v-up-${e}-${o}-total">${fmtInt(w.total)}</td>`;
      }).join('') +
      '</tr>',
  ).join('');
  const closes = s.closes.map((c) => winRow(`${c.code} ${c.reason}`, `v-close-${c.code}`, c, true)).join('');
  const admission = ADMISSION_REASONS.map((r) => winRow(LABEL[r] ?? r, `v-adm-${r}`, s.admission_rejects[r], true)).join('');
  const push =
    s.push === undefined
      ? ''
      : `<section class="card"><h2>Push wakes</h2><table><thead><tr><th>Outcome</th><th>${win}</th><th>Total</th></tr></thead><tbody>${Object.entries(
          s.push,
        )
          .map(([o, w]) => winRow(o, `v-push-${o}`, w, o !== 'sent'))
          .join('')}</tbody></table></section>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<noscript><meta http-equiv="refresh" content="10"></noscript>
<title>pyrycode-relay status</title>
<style>${STYLE}</style></head>
<body>
<header><h1>pyrycode-relay</h1><span class="meta">version <span id="v-version">${esc(s.version)}</span></span>
<span class="meta">up <span id="v-uptime">${fmtDur(s.uptime_seconds)}</span></span>
<span class="meta">updated <span id="v-updated">${fmtTime(s.time)}</span></span>
<span id="st-state" class="state live">live</span></header>
<div class="grid">
${tile('v-binaries', fmtInt(s.connections.binaries), 'binaries connected')}
${tile('v-phones', fmtInt(s.connections.phones), 'phones connected')}
${tile('v-open', fmtInt(s.connections.open), 'connection slots held')}
${tile('v-queued', fmtBytes(s.queued_bytes), 'queued for phones')}
${tile('v-lag', fmtMs(s.event_loop.p99_ms), 'event-loop lag p99')}
${tile('v-lagmax', fmtMs(s.event_loop.max_ms), 'event-loop lag max')}
${tile('v-rss', fmtBytes(s.memory.rss_bytes), 'resident memory')}
${tile('v-heap', fmtBytes(s.memory.heap_used_bytes), 'JS heap used')}
</div>
<div class="cards">
<section class="card"><h2>Traffic</h2>
<table><thead><tr><th>Direction</th><th>frames/s</th><th>bytes/s</th><th>frames</th><th>bytes</th></tr></thead><tbody>${traffic}</tbody></table>
<svg viewBox="0 0 300 60" preserveAspectRatio="none" role="img" aria-label="frames per second">
<polyline id="sp-frames-phone_to_binary" class="sa" points="${points(h.frames_per_second.phone_to_binary, fm)}"/>
<polyline id="sp-frames-binary_to_phone" class="sb" points="${points(h.frames_per_second.binary_to_phone, fm)}"/></svg>
<div class="key">totals since start; frames/s, ${win}, peak <span id="v-frames-peak">${fmtRate(fm)}</span>: <span class="a">phone → binary</span> · <span class="b">binary → phone</span></div>
</section>
<section class="card"><h2>Connections</h2>
<svg viewBox="0 0 300 60" preserveAspectRatio="none" role="img" aria-label="connections">
<polyline id="sp-phones" class="sa" points="${points(h.phones, cm)}"/>
<polyline id="sp-binaries" class="sb" points="${points(h.binaries, cm)}"/></svg>
<div class="key">${win}, peak <span id="v-conns-peak">${fmtInt(cm)}</span>: <span class="a">phones</span> · <span class="b">binaries</span></div>
</section>
<section class="card"><h2>Upgrades</h2>
<table><thead><tr><th></th><th class="g" colspan="2">/v1/server</th><th class="g" colspan="2">/v1/client</th></tr>
<tr><th>Outcome</th><th>${win}</th><th>total</th><th>${win}</th><th>total</th></tr></thead><tbody>${upgrades}</tbody></table></section>
<section class="card"><h2>Closes by code</h2>
<table><thead><tr><th>Code</th><th>${win}</th><th>Total</th></tr></thead><tbody>${closes}</tbody></table></section>
<section class="card"><h2>Admission rejects</h2>
<table><thead><tr><th>Reason</th><th>${win}</th><th>Total</th></tr></thead><tbody>${admission}</tbody></table></section>
<section class="card"><h2>Other events</h2>
<table><thead><tr><th>Event</th><th>${win}</th><th>Total</th></tr></thead><tbody>
${winRow('grace expiries (daemon gone)', 'v-grace', s.grace_expiries, true)}
${winRow('envelopes dropped', 'v-dropped', s.envelopes_dropped, true)}</tbody></table></section>
${push}
${s.cluster === undefined ? '' : clusterCard(s.cluster)}
${s.nodes === undefined ? '' : nodesCard(s.nodes)}
</div>
<footer>This relay process only, refreshed every ${REFRESH_MS / 1000} s from <a href="status.json">status.json</a>; Prometheus series on <a href="metrics">/metrics</a>.
Rates cover the last <span id="v-rate-s">${s.rate_seconds}</span> s. No server-id, connection id, address or token is ever shown.</footer>
<script>${SCRIPT}</script>
</body></html>
`;
}
