// warmpod's cluster page: plain DOM, no framework. It reads the REST API with the
// bearer token the user gives (kept in sessionStorage only) and follows GET /v1/events
// with fetch, because EventSource cannot send an Authorization header.
'use strict';

const TOKEN_KEY = 'warmpod.token';
const PHASES = ['Pending', 'Scheduled', 'Pulling', 'Restoring', 'Starting', 'Running'];
const SEGMENT = { Pending: 'placement', Scheduled: 'dispatch', Pulling: 'pull', Restoring: 'restore', Starting: 'start' };
const $ = (id) => document.getElementById(id);
const state = { nodes: [], pins: [], pools: [], pods: [], checkpoints: [] };
let token = sessionStorage.getItem(TOKEN_KEY) || '';
let stream = null;

const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const short = (digest) =>
  digest
    ? String(digest)
        .replace(/^sha256:/, '')
        .slice(0, 12)
    : '';
const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;
const pct = (done, total) => (total > 0 ? Math.min(100, Math.round((100 * done) / total)) : 0);

function show(text, kind = 'error') {
  const m = $('message');
  m.textContent = text;
  m.className = kind;
  m.hidden = !text;
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token}` } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new HttpError(res.status, body?.error?.message || `${path} answered ${res.status}`);
  return body;
}

// --- rendering -------------------------------------------------------------

function table(head, rows, empty) {
  if (rows.length === 0) return `<p class="empty">${esc(empty)}</p>`;
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function bar(done, total, cls = '') {
  const p = pct(done, total);
  return `<span class="bar ${cls}" data-percent="${p}"><span style="width:${p}%"></span></span>`;
}

function renderNodes() {
  const rows = state.nodes.map((n) => {
    const flags = [n.health, n.cordoned ? 'cordoned' : '', n.draining ? 'draining' : ''].filter(Boolean);
    const images = (n.cachedImages || n.cachedDigests || []).map((c) => `<code title="${esc(c.digest)}">${short(c.digest)}</code>`);
    const checkpoints = (n.checkpoints || []).map((c) => `<code title="${esc(c.key)}">${esc(c.id)}</code> ${esc(c.state)}`);
    return `<tr data-node="${esc(n.id)}" data-health="${esc(n.health)}">
      <td><b>${esc(n.id)}</b></td>
      <td>${flags.map((f) => `<span class="badge ${esc(f)}">${esc(f)}</span>`).join('')}</td>
      <td>${bar(n.allocated.cpu, n.capacity.cpu)} <span class="small">${n.allocated.cpu}/${n.capacity.cpu} CPU</span><br />
          ${bar(n.allocated.memoryMiB, n.capacity.memoryMiB)} <span class="small">${n.allocated.memoryMiB}/${n.capacity.memoryMiB} MiB</span></td>
      <td>${(n.runningPods || []).length}${n.hidden?.runningPods ? ` <span class="small">(+${n.hidden.runningPods} hidden)</span>` : ''}</td>
      <td>${images.join(' ') || '<span class="empty">none</span>'}</td>
      <td>${checkpoints.join('<br />') || '<span class="empty">none</span>'}</td></tr>`;
  });
  $('nodes').innerHTML = table(['node', 'state', 'usage', 'pods', 'cached images', 'checkpoints'], rows, 'no nodes registered');
}

function renderPins() {
  const rows = state.pins.map((p) => {
    const nodes = p.nodes.map((n) => {
      const label = n.state === 'pulling' && n.bytesTotal ? `${mib(n.bytesDone || 0)} / ${mib(n.bytesTotal)}` : n.state;
      const done = n.state === 'ready' ? 1 : n.bytesDone || 0;
      const total = n.state === 'ready' ? 1 : n.bytesTotal || 0;
      return `<div data-pin-node="${esc(n.node)}" data-state="${esc(n.state)}">
        <span class="small" style="display:inline-block;width:7rem">${esc(n.node)}</span>${bar(done, total, n.state)}
        <span class="small">${esc(label)}${n.reason ? ` — ${esc(n.reason)}` : ''}</span></div>`;
    });
    return `<tr data-pin="${esc(p.id)}" data-reference="${esc(p.reference)}" data-state="${esc(p.state)}">
      <td><b>${esc(p.reference)}</b><br /><code class="small">${short(p.digest)}</code></td>
      <td><span class="badge ${esc(p.state)}">${esc(p.state)}</span> ${p.ready}/${p.nodes.length}</td>
      <td>${nodes.join('') || '<span class="empty">no nodes</span>'}</td></tr>`;
  });
  $('pins').innerHTML = table(['image', 'state', 'per node'], rows, 'no pinned images');
}

function renderPools() {
  const rows = state.pools.map((p) => {
    const r = p.rotation;
    const rotation = r ? `${short(r.from)} → ${short(r.to)}, ${r.oldPods} old pod(s) left` : '<span class="empty">none</span>';
    const members = (p.pods || [])
      .map(
        (m) =>
          `<span class="badge ${esc(m.phase)}" title="${esc(m.id)}">${esc(m.node || '?')} ${esc(m.phase)}${m.current ? '' : ' (old)'}</span>`,
      )
      .join('');
    return `<tr data-pool="${esc(p.name)}" data-ready="${p.ready}" data-size="${p.size}">
      <td><b>${esc(p.name)}</b><br /><span class="small">${esc(p.image.requested)}</span></td>
      <td><span class="badge ${esc(p.state)}">${esc(p.state)}</span></td>
      <td>${bar(p.ready, p.size || p.desired)} <span class="small">${p.ready}/${p.size} ready</span></td>
      <td>${rotation}</td><td>${members}</td></tr>`;
  });
  $('pools').innerHTML = table(['pool', 'state', 'ready', 'rotation', 'warm pods'], rows, 'no warm pools');
}

/** Start segments from the pod's timeline: each present phase up to the next present one (Running, or now). */
function segments(pod, now) {
  const at = PHASES.map((ph) => [ph, Date.parse(pod.timeline?.[ph] ?? '')]).filter(([, t]) => Number.isFinite(t));
  const end = at.find(([ph]) => ph === 'Running')?.[1];
  const out = [];
  for (let i = 0; i < at.length && at[i][0] !== 'Running'; i++) {
    const next = i + 1 < at.length ? at[i + 1][1] : (end ?? now);
    out.push({ name: SEGMENT[at[i][0]], from: at[i][1], ms: Math.max(0, next - at[i][1]) });
  }
  return { out, total: out.reduce((s, x) => s + x.ms, 0), done: end !== undefined };
}

function renderPods() {
  const now = Date.now();
  const pods = [...state.pods].sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)));
  const all = pods.map((p) => segments(p, now));
  const scale = Math.max(1, ...all.map((s) => s.total));
  const rows = pods.map((p, i) => {
    const { out, total, done } = all[i];
    const mode = done ? p.startMode || 'cold' : 'pending';
    let left = 0;
    const spans = out.map((s, k) => {
      const w = (100 * s.ms) / scale;
      const html = `<span class="${esc(mode)}" style="left:${left}%;width:${w}%;opacity:${1 - k * 0.12}" title="${esc(s.name)}: ${s.ms} ms"></span>`;
      left += w;
      return html;
    });
    return `<tr data-pod="${esc(p.id)}" data-phase="${esc(p.phase)}">
      <td><code>${esc(p.id)}</code><br /><span class="small">${esc(p.image?.requested)}</span></td>
      <td><span class="badge ${esc(p.phase)}">${esc(p.phase)}</span>${p.message ? `<br /><span class="small">${esc(p.message)}</span>` : ''}</td>
      <td>${esc(p.node || '')}</td><td>${p.startMode ? `<span class="mode ${esc(p.startMode)}">${esc(p.startMode)}</span>` : ''}</td>
      <td><span class="waterfall">${spans.join('')}</span> <span class="small">${done ? `${total} ms` : ''}</span><br />
        <span class="small">${out.map((s) => `${esc(s.name)} ${s.ms} ms`).join(' · ')}</span></td></tr>`;
  });
  $('pods').innerHTML = table(['pod', 'phase', 'node', 'start', 'start timeline'], rows, 'no pods');
}

// --- loading and the live stream -------------------------------------------

const loaders = {
  nodes: async () => ((state.nodes = (await api('/v1/nodes')).items), renderNodes()),
  pins: async () => ((state.pins = (await api('/v1/images')).items), renderPins()),
  pools: async () => ((state.pools = (await api('/v1/pools')).items), renderPools()),
  pods: async () => ((state.pods = (await api('/v1/pods')).items), renderPods()),
};
// What each event kind can change on the page.
const AFFECTS = { pod: ['pods', 'nodes', 'pools'], pin: ['pins', 'nodes'], pool: ['pools', 'pods'], checkpoint: ['nodes'] };
const due = new Set();
let timer = 0;

function refresh(parts) {
  parts.forEach((p) => due.add(p));
  if (!timer) timer = setTimeout(flush, 150);
}

async function flush() {
  timer = 0;
  const parts = [...due];
  due.clear();
  try {
    await Promise.all(parts.map((p) => loaders[p]()));
    // The gateway answers again: an earlier "could not reach" no longer holds.
    if (token && $('message').className === 'error') show('');
  } catch (error) {
    fail(error);
  }
}

function fail(error) {
  if (error instanceof HttpError && (error.status === 401 || error.status === 403)) {
    stop();
    sessionStorage.removeItem(TOKEN_KEY);
    token = '';
    show(`The gateway refused this token (${error.status}: ${error.message}). Enter a valid bearer token.`);
    $('cluster').hidden = true;
    $('login').hidden = false;
    $('forget').hidden = true;
  } else {
    show(`The gateway did not answer as expected: ${error.message}. Retrying.`);
  }
}

/** Follows GET /v1/events, resuming after the last seen id when the connection drops. */
async function follow(control) {
  let lastId = '';
  while (!control.signal.aborted) {
    try {
      const headers = { authorization: `Bearer ${token}`, accept: 'text/event-stream' };
      if (lastId) headers['last-event-id'] = lastId;
      const res = await fetch('/v1/events', { headers, signal: control.signal });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        throw new HttpError(res.status, body?.error?.message || `events answered ${res.status}`);
      }
      setLive(true);
      // Anything may have changed while we were not listening.
      refresh(Object.keys(loaders));
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      let event = { data: [] };
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let nl;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).replace(/\r$/, '');
          buffer = buffer.slice(nl + 1);
          if (line === '') {
            if (event.id) lastId = event.id;
            if (event.data.length) refresh(AFFECTS[event.event] || Object.keys(loaders));
            event = { data: [] };
          } else if (!line.startsWith(':')) {
            const c = line.indexOf(':');
            const field = c < 0 ? line : line.slice(0, c);
            const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (field === 'data') event.data.push(v);
            else event[field] = v;
          }
        }
      }
    } catch (error) {
      if (control.signal.aborted) return;
      if (error instanceof HttpError && error.status !== 429 && error.status < 500) {
        if (error.status === 400)
          lastId = ''; // a resume point the gateway no longer has: start afresh
        else return fail(error);
      }
    }
    setLive(false);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function setLive(on) {
  $('live').textContent = on ? 'live' : 'reconnecting…';
  $('live').className = `live ${on ? 'on' : 'off'}`;
}

let ticker = 0;
function stop() {
  stream?.abort();
  stream = null;
  clearInterval(ticker);
  setLive(false);
  $('live').textContent = 'offline';
}

async function open() {
  show('Loading…', 'info');
  try {
    await Promise.all(Object.values(loaders).map((load) => load()));
  } catch (error) {
    return fail(error);
  }
  show('');
  $('login').hidden = true;
  $('cluster').hidden = false;
  $('forget').hidden = false;
  stream = new AbortController();
  follow(stream);
  // Heartbeats and pull bytes are not events: readiness and progress bars are polled while they can change.
  ticker = setInterval(() => {
    const pulling = state.pins.some((p) => p.nodes.some((n) => n.state === 'queued' || n.state === 'pulling'));
    refresh(pulling ? ['nodes', 'pins'] : ['nodes']);
    if (state.pods.some((p) => !p.timeline?.Running)) renderPods();
  }, 1000);
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  const given = $('token').value.trim();
  if (!given) return show('Enter a bearer token: the page shows only what this token may see.');
  token = given;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  open();
});
$('forget').addEventListener('click', () => {
  stop();
  sessionStorage.removeItem(TOKEN_KEY);
  token = '';
  $('cluster').hidden = true;
  $('login').hidden = false;
  $('forget').hidden = true;
  show('Token forgotten. Enter a bearer token to see the cluster.', 'info');
});

if (token) open();
else {
  $('login').hidden = false;
  show('This page needs a bearer token: enter the token you use with the API.', 'info');
}
