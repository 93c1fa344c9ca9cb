// The desk (services/ingest/desk.py renders the page; this module makes it work).
//
// Every change goes through the ordinary /v1 API on this origin, authenticated by the session
// cookie, with the session's CSRF token in X-CSRF-Token (services/ingest/sessions.py). The
// live column is the server's (GET /desk/column: the reader column's own items with their
// actions), refetched on every frame of the push stream; the review queue is GET /v1/drafts,
// refetched when a presence beat (POST /desk/presence, every few seconds) reports a newer change
// of a draft (keys.DESK_EVENTS), and after every action. Edits carry the version they started
// from (If-Match, from GET /desk/article/{id}); a `stale` answer names who changed it.

const config = JSON.parse(document.getElementById('desk-config').textContent);
const editor = config.role === 'editor';
const query = config.langQuery ? `?${config.langQuery}` : '';
const $ = (id) => document.getElementById(id);

/** A desk message in the desk's language, with {placeholders} filled. */
function M(message, vars = {}) {
  const text = config.messages[message] ?? message;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

const timeFormat = new Intl.DateTimeFormat(config.locale, {
  timeZone: config.zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
});
const dateTimeFormat = new Intl.DateTimeFormat(config.locale, {
  timeZone: config.zone, day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
  hourCycle: 'h23',
});
/** "16:55" (today) or "24 Oct, 16:55", in the newsroom's zone. */
function when(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  const sameDay = new Date().toDateString() === date.toDateString();
  return (sameDay ? timeFormat : dateTimeFormat).format(date);
}

// -- time zones: the embargo field is wall time in the newsroom's zone ------------------------

function zoneParts(zone, ms) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(ms));
  return Object.fromEntries(parts.map((p) => [p.type, p.value]));
}
function zoneOffsetMs(zone, ms) {
  const p = zoneParts(zone, ms);
  return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second)
    - Math.floor(ms / 1000) * 1000;
}
const pad = (n) => String(Math.abs(n)).padStart(2, '0');
/** "2024-10-24T16:55" in `zone` → RFC 3339 with that zone's offset then. */
function zonedToIso(value, zone) {
  const [day, clock] = value.split('T');
  const [y, mo, d] = day.split('-').map(Number);
  const [h, mi] = clock.split(':').map(Number);
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  let utc = wall - zoneOffsetMs(zone, wall);
  utc = wall - zoneOffsetMs(zone, utc);
  const offset = Math.round(zoneOffsetMs(zone, utc) / 60000);
  const sign = offset < 0 ? '-' : '+';
  return `${day}T${pad(h)}:${pad(mi)}:00${sign}${pad(Math.trunc(offset / 60))}:${pad(offset % 60)}`;
}
/** RFC 3339 → "2024-10-24T16:55" in `zone` (the datetime-local field's value). */
function isoToZoned(iso, zone) {
  const p = zoneParts(zone, new Date(iso).getTime());
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

// -- the API ---------------------------------------------------------------------------------

async function api(method, path, body, headers = {}) {
  const init = { method, headers: { 'X-CSRF-Token': config.csrf, ...headers }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    // Signed out (here or in another tab) or expired: the sign-in page; nothing more to do here.
    location.assign(`/desk${query}`);
    return new Promise(() => {});
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { status: response.status, data };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const FINAL = new Set(['finished', 'failed']);
const QUEUED = new Set(['accepted', 'draft']);

/** A write's answer followed to its end: {state: 'applied' | 'refused' | 'stale' | 'error',
 * outcome, errors, current, message}. `onAccepted` runs once it is queued. */
async function settle(answer, onAccepted) {
  const { status, data } = answer;
  if (status >= 400 || !data) {
    return { state: 'refused', errors: data?.errors ?? [], message: data?.detail ?? String(status) };
  }
  const result = (data.results ?? [])[0] ?? {};
  // `accepted` and `draft` are queued: the job says what applying did (the worker checks roles,
  // sections and the version again, and may refuse what ingest let through).
  if (result.status && !QUEUED.has(result.status)) {
    return conclude(result.status, result);
  }
  const jobId = result.job_id ?? data.job_id;
  if (!jobId) return conclude(result.status ?? 'applied', result);
  onAccepted?.();
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    const job = await api('GET', `/v1/jobs/${encodeURIComponent(jobId)}`);
    if (job.status === 200 && FINAL.has(job.data.status)) {
      if (job.data.status === 'failed') return { state: 'error', message: job.data.error };
      const applied = (job.data.results ?? [])[0] ?? {};
      return conclude(applied.outcome ?? applied.status ?? 'applied', applied);
    }
    await sleep(80);
  }
  return { state: 'error', message: M('Still queued: check again in a moment.') };
}

function conclude(outcome, result) {
  if (outcome === 'rejected') {
    return { state: 'refused', outcome, errors: result.errors ?? [], message: result.reason ?? '' };
  }
  if (outcome === 'stale' && result.current) return { state: 'stale', outcome, current: result.current };
  if (['stale', 'unchanged', 'expired', 'refused', 'forbidden'].includes(outcome)) {
    return { state: 'refused', outcome, errors: result.errors ?? [], message: result.reason ?? outcome };
  }
  return { state: 'applied', outcome };
}

const OUTCOME_TEXT = {
  published: 'Published.',
  updated: 'Updated.',
  corrected: 'Corrected.',
  retracted: 'Retracted.',
  draft: 'Saved as a draft.',
  returned: 'Returned to its author.',
  embargoed: 'Embargoed: it appears by itself at its time.',
  unchanged: 'Nothing changed: the desk already has this.',
};

/** Show an action's progress and end in `line` (a role=status element). */
async function report(line, answer, fieldErrors) {
  line.dataset.state = 'sending';
  line.textContent = M('Sending…');
  const end = await settle(answer, () => {
    line.dataset.state = 'accepted';
    line.textContent = M('Accepted: applying…');
  });
  line.dataset.state = end.state;
  if (end.state === 'applied') {
    const text = OUTCOME_TEXT[end.outcome];
    line.textContent = text ? M(text) : M('Applied: {outcome}', { outcome: end.outcome });
  } else if (end.state === 'stale') {
    line.textContent = M('Not applied: someone changed it meanwhile.');
  } else if (end.state === 'refused') {
    const shown = fieldErrors ? fieldErrors(end.errors ?? []) : false;
    const reasons = (end.errors ?? []).map((e) => `${e.field}: ${e.reason}`).join('; ');
    line.textContent = M('Not applied: {reason}', {
      reason: shown ? M('see the fields marked above.') : reasons || end.message || end.outcome,
    });
  } else {
    line.textContent = M('Not applied: {reason}', { reason: end.message ?? '' });
  }
  return end;
}

/** A conflict in a status line: who changed it, when, and what it says now. */
function showStale(line, current) {
  line.textContent = M('Changed meanwhile by {by} at {time}: “{title}” (version {version}).', {
    by: current.by ?? '?', time: when(current.at), title: current.title ?? '',
    version: current.version ?? '?',
  });
}

// -- compose ---------------------------------------------------------------------------------

const form = $('compose-form');
const title = $('f-title');
const count = $('title-count');
const status = $('compose-status');
const conflict = $('conflict');
let editing = null; // {id, version (If-Match), draft, item}
let pendingOverwrite = null;

const FIELD_IDS = {
  title: 'title', url: 'url', section: 'section', labels: 'labels', urgency: 'urgency',
  embargoed_until: 'embargoed_until', published_at: 'embargoed_until', correction: 'correction',
  pinned: 'pinned',
};

function clearErrors() {
  for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

/** Put each problem next to the field it names; true when at least one found its field. */
function showFieldErrors(errors) {
  let placed = false;
  for (const error of errors) {
    const name = String(error.field ?? '').replace(/^articles\[\d+\]\./, '').split(/[.[]/)[0];
    const id = FIELD_IDS[name];
    if (!id) continue;
    const line = $(`err-${id}`);
    line.textContent = line.textContent ? `${line.textContent} ${error.reason}` : error.reason;
    $(`f-${id}`)?.setAttribute('aria-invalid', 'true');
    placed = true;
  }
  return placed;
}

function updateCount() {
  const used = [...title.value.trim()].length;
  count.textContent = M('{count} / {max} characters', { count: used, max: config.maxTitle });
  count.dataset.over = used > config.maxTitle ? 'true' : 'false';
}

function labelsOf() {
  const labels = $('f-labels').value.split(/[,\s]+/).map((l) => l.trim().toLowerCase()).filter(Boolean);
  const marked = labels.filter((l) => l !== 'key');
  if ($('f-key').checked) marked.push('key');
  return [...new Set(marked)];
}

/** The fields the form says, as the API takes them (null: clear it, on an edit). */
function formFields() {
  const embargo = $('f-embargoed_until').value;
  const fields = {
    title: title.value,
    url: $('f-url').value.trim() || null,
    section: $('f-section').value.trim() || null,
    labels: labelsOf(),
    urgency: $('f-urgency').value ? Number($('f-urgency').value) : null,
    embargoed_until: embargo ? zonedToIso(embargo, config.zone) : null,
  };
  if (editor) fields.pinned = $('f-pinned').checked;
  return fields;
}

let previewTimer = 0;
const previewRoot = $('preview').attachShadow({ mode: 'open' });
previewRoot.innerHTML = '<link rel="stylesheet" href="/desk/static/column.css"><div class="holder"></div>';
async function preview() {
  const fields = formFields();
  const holder = previewRoot.querySelector('.holder');
  if (!fields.title.trim()) {
    holder.textContent = '';
    return;
  }
  const body = { title: fields.title, labels: fields.labels };
  if (fields.url) body.url = fields.url;
  if (fields.embargoed_until) body.embargoed_until = fields.embargoed_until;
  if (editing?.item?.published_at && !fields.embargoed_until) body.published_at = editing.item.published_at;
  const { status: code, data } = await api('POST', `/desk/preview${query}`, body);
  if (code === 200) holder.innerHTML = data.html;
}
function schedulePreview() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(preview, 150);
}

function newId() {
  const stamp = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  const random = crypto.getRandomValues(new Uint32Array(2));
  return `desk-${stamp}-${random[0].toString(36)}${random[1].toString(36)}`;
}

/** Send what the form says: a new headline, or the edit begun (`asDraft`: keep it a draft). */
async function submit(asDraft, overwrite = null) {
  clearErrors();
  conflict.hidden = true;
  const fields = formFields();
  const draft = asDraft || !editor || editing?.draft;
  let answer;
  if (!editing) {
    const now = new Date().toISOString();
    const article = { id: newId(), published_at: fields.embargoed_until ?? now };
    for (const [name, value] of Object.entries(fields)) {
      if (value !== null && !(Array.isArray(value) && !value.length) && value !== false) article[name] = value;
    }
    if (draft) article.status = 'draft';
    answer = await api('POST', '/v1/articles', article);
  } else {
    const patch = { ...fields };
    const note = $('f-correction').value.trim();
    if (note) patch.correction = note;
    if (draft) patch.status = 'draft';
    if (!editing.draft) delete patch.embargoed_until;
    const headers = {};
    if (!overwrite && editing.version) headers['If-Match'] = `"${editing.version}"`;
    answer = await api('PATCH', `/v1/articles/${encodeURIComponent(editing.id)}`, patch, headers);
  }
  const end = await report(status, answer, showFieldErrors);
  if (end.state === 'stale') {
    showConflict(end.current);
  } else if (end.state === 'applied') {
    stopEditing(false);
    loadQueue();
  }
}

function showConflict(current) {
  pendingOverwrite = current;
  $('conflict-text').textContent = M('Changed meanwhile by {by} at {time}: “{title}” (version {version}).', {
    by: current.by ?? '?', time: when(current.at), title: current.title ?? '', version: current.version ?? '?',
  });
  conflict.hidden = false;
  $('conflict-reload').focus();
}

function setEditing(next) {
  editing = next;
  const banner = $('editing');
  const publish = $('publish');
  $('cancel-edit').hidden = !next;
  $('wrap-correction').hidden = !next || next.draft;
  $('wrap-embargoed_until').hidden = Boolean(next && !next.draft);
  if (next) {
    banner.hidden = false;
    banner.textContent = next.draft
      ? M('Editing the draft “{title}”', { title: next.item.title })
      : M('Editing “{title}” (live)', { title: next.item.title });
    publish.textContent = next.draft && editor ? M('Save draft') : M('Save changes');
  } else {
    banner.hidden = true;
    publish.textContent = editor ? M('Publish') : M('Submit for review');
  }
  beat();
}

function fillForm(item) {
  title.value = item.title ?? '';
  $('f-url').value = item.url ?? '';
  $('f-section').value = item.section ?? '';
  const labels = item.labels ?? [];
  $('f-labels').value = labels.filter((l) => l !== 'key').join(', ');
  $('f-key').checked = labels.includes('key');
  $('f-urgency').value = item.urgency ? String(item.urgency) : '';
  if (editor) $('f-pinned').checked = Boolean(item.pinned);
  $('f-embargoed_until').value = item.embargoed_until ? isoToZoned(item.embargoed_until, config.zone) : '';
  $('f-correction').value = '';
  updateCount();
  schedulePreview();
}

/** What an editor edits, and the version it is at (ingest's GET /v1/articles/{id}). */
async function opened(id) {
  const { status: code, data } = await api('GET', `/desk/article/${encodeURIComponent(id)}`);
  return code === 200 ? data : null;
}

/** Open `item` in the form: a draft (from the queue) as listed, a live headline as stored. */
async function startEditing(item, draft) {
  clearErrors();
  conflict.hidden = true;
  status.textContent = '';
  let fields = item;
  let version = draft ? item.version : null;
  if (!draft) {
    const record = await opened(item.id);
    if (record?.article) {
      fields = { ...record.article, pinned: record.article.pinned ?? pinnedIds.has(item.id) };
      version = record.version;
    }
  }
  fillForm(fields);
  setEditing({ id: item.id, version, draft, item: fields });
  $('compose').scrollIntoView({ block: 'start' });
  title.focus();
}

function stopEditing(refocus = true) {
  form.reset();
  clearErrors();
  conflict.hidden = true;
  setEditing(null);
  updateCount();
  schedulePreview();
  if (refocus) title.focus();
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  submit(false);
});
$('save-draft')?.addEventListener('click', () => submit(true));
$('cancel-edit').addEventListener('click', () => stopEditing());
$('conflict-reload').addEventListener('click', async () => {
  const id = editing?.id;
  const wasDraft = editing?.draft;
  await Promise.all([loadColumn(), loadQueue()]);
  const fresh = wasDraft ? drafts.get(id) : columnItems[id];
  conflict.hidden = true;
  if (fresh) startEditing(fresh, wasDraft);
  else stopEditing();
});
$('conflict-overwrite').addEventListener('click', () => {
  if (pendingOverwrite) submit(false, true);
});
title.addEventListener('input', updateCount);
form.addEventListener('input', schedulePreview);
form.addEventListener('change', schedulePreview);

// -- dialogs ---------------------------------------------------------------------------------

const dialog = $('dialog');
const dialogNote = $('dialog-note');
const dialogTitle = $('dialog-title');

/** Ask for a note (required) and maybe a new title; resolves to {note, title} or null. */
function ask({ heading, text = '', noteLabel, ok, danger = false, titleValue = null }) {
  $('dialog-head').textContent = heading;
  $('dialog-text').textContent = text;
  $('dialog-note-label').textContent = noteLabel;
  $('dialog-note-wrap').hidden = false;
  $('dialog-history').hidden = true;
  $('dialog-title-wrap').hidden = titleValue === null;
  dialogTitle.value = titleValue ?? '';
  dialogNote.value = '';
  $('dialog-note-error').textContent = '';
  dialogNote.removeAttribute('aria-invalid');
  const okButton = $('dialog-ok');
  okButton.hidden = false;
  okButton.textContent = ok;
  okButton.classList.toggle('danger', danger);
  $('dialog-cancel').textContent = M('Cancel');
  dialog.showModal();
  dialogNote.focus();
  return new Promise((resolve) => {
    const done = (value) => {
      dialog.removeEventListener('close', onClose);
      $('dialog-form').removeEventListener('submit', onSubmit);
      resolve(value);
    };
    const onSubmit = (event) => {
      if (!dialogNote.value.trim()) {
        event.preventDefault();
        $('dialog-note-error').textContent = M('This is required.');
        dialogNote.setAttribute('aria-invalid', 'true');
        dialogNote.focus();
        return;
      }
      done({ note: dialogNote.value.trim(), title: dialogTitle.value });
    };
    const onClose = () => done(null);
    $('dialog-form').addEventListener('submit', onSubmit);
    dialog.addEventListener('close', onClose);
  });
}
$('dialog-cancel').addEventListener('click', () => dialog.close());
dialog.addEventListener('keydown', (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === 'Enter') {
    event.preventDefault();
    $('dialog-form').requestSubmit($('dialog-ok'));
  }
});

async function showHistory(id, heading) {
  $('dialog-head').textContent = M('History of “{title}”', { title: heading });
  $('dialog-text').textContent = M('Loading…');
  $('dialog-note-wrap').hidden = true;
  $('dialog-title-wrap').hidden = true;
  $('dialog-ok').hidden = true;
  $('dialog-cancel').textContent = M('Close');
  const list = $('dialog-history');
  list.replaceChildren();
  list.hidden = false;
  dialog.showModal();
  $('dialog-cancel').focus();
  const { status: code, data } = await api('GET', `/v1/articles/${encodeURIComponent(id)}/history`);
  if (code !== 200) {
    $('dialog-text').textContent = M('No recorded change.');
    return;
  }
  $('dialog-text').textContent = '';
  const ol = document.createElement('ol');
  for (const entry of data.history.slice().reverse()) {
    const li = document.createElement('li');
    const head = document.createElement('p');
    head.className = 'history-head';
    head.textContent = M('{time} · {by}: {action}', {
      time: when(entry.at), by: entry.by ?? '?', action: entry.action,
    });
    li.append(head);
    const details = [];
    if (entry.fields?.length) details.push(M('Fields: {fields}', { fields: entry.fields.join(', ') }));
    if (entry.version) details.push(M('Version {version}', { version: entry.version }));
    for (const name of ['correction', 'reason', 'note']) if (entry[name]) details.push(`${name}: ${entry[name]}`);
    if (details.length) {
      const more = document.createElement('p');
      more.dir = 'auto';
      more.textContent = details.join(' · ');
      li.append(more);
    }
    ol.append(li);
  }
  list.append(ol);
}

// -- the live column -------------------------------------------------------------------------

const columnHost = $('column');
const columnRoot = columnHost.attachShadow({ mode: 'open' });
columnRoot.innerHTML = '<link rel="stylesheet" href="/desk/static/column.css">'
  + '<link rel="stylesheet" href="/desk/static/desk-column.css"><div class="holder"></div>'
  + '<p class="action-status" role="status"></p>';
let columnItems = {};
let pinnedIds = new Set();
let eventId = null;
let people = [];
let draftsEvent;
const conn = $('conn');
const liveStatus = columnRoot.querySelector('.action-status');

async function loadColumn() {
  const { status: code, data } = await api('GET', `/desk/column${query}`);
  if (code !== 200) return;
  columnItems = data.items;
  pinnedIds = new Set(data.pinned);
  eventId = data.event_id;
  columnRoot.querySelector('.holder').innerHTML = data.html;
  applySearch();
  markOpen();
}

let reloadTimer = 0;
function scheduleColumn() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(loadColumn, 30);
}

function setConn(state, text) {
  conn.dataset.state = state;
  conn.textContent = text;
}

let retry = 0;
async function connect() {
  await loadColumn();
  const url = `${config.stream}${eventId ? `?since=${encodeURIComponent(eventId)}` : ''}`;
  const socket = new WebSocket(url);
  socket.addEventListener('message', (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame.type === 'hello') {
      retry = 0;
      setConn('live', M('Live'));
      return;
    }
    scheduleColumn();
  });
  socket.addEventListener('close', () => {
    setConn('reconnecting', M('Reconnecting…'));
    retry = Math.min(retry + 1, 6);
    setTimeout(connect, 250 * 2 ** retry);
  });
}

async function columnAction(action, id) {
  const item = columnItems[id];
  if (!item) return;
  const path = `/v1/articles/${encodeURIComponent(id)}`;
  const pinned = pinnedIds.has(id);
  if (action === 'edit') return startEditing(item, false);
  if (action === 'history') return showHistory(id, item.title);
  let answer;
  const startedFrom = async () => {
    const record = await opened(id);
    return record?.version ? { 'If-Match': `"${record.version}"` } : {};
  };
  if (action === 'correct') {
    const got = await ask({
      heading: M('Correct “{title}”', { title: item.title }),
      text: M('The note is shown with the headline, and readers are told of the correction.'),
      noteLabel: M('Correction note (required)'), ok: M('Correct'), titleValue: item.title,
    });
    if (!got) return;
    const headers = await startedFrom();
    const patch = { correction: got.note };
    if (got.title.trim() && got.title !== item.title) patch.title = got.title;
    answer = await api('PATCH', path, patch, headers);
  } else if (action === 'pin') {
    answer = await api('PATCH', path, { pinned: !pinned });
  } else if (action === 'key') {
    const record = await opened(id);
    const stored = record?.article?.labels ?? (item.labels ?? []).filter((l) => l !== 'updated');
    const labels = stored.filter((l) => l !== 'key');
    if (!stored.includes('key')) labels.push('key');
    const headers = record?.version ? { 'If-Match': `"${record.version}"` } : {};
    answer = await api('PATCH', path, { labels }, headers);
  } else if (action === 'retract') {
    const got = await ask({
      heading: M('Retract “{title}”?', { title: item.title }),
      text: M('It disappears from every page, feed and reader at once.'),
      noteLabel: M('Reason (required)'), ok: M('Retract'), danger: true,
    });
    if (!got) return;
    answer = await api('DELETE', path, { reason: got.note });
  } else {
    return;
  }
  const end = await report(liveStatus, answer);
  if (end.state === 'stale') {
    showStale(liveStatus, end.current);
    scheduleColumn();
  }
}

columnRoot.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-action]');
  if (button) columnAction(button.dataset.action, button.dataset.id);
});

// -- search ----------------------------------------------------------------------------------

const search = $('search');
function applySearch() {
  const words = search.value.trim().toLocaleLowerCase();
  let shown = 0;
  for (const row of columnRoot.querySelectorAll('li.row')) {
    const match = !words || row.dataset.search.includes(words);
    row.hidden = !match;
    if (match) shown += 1;
  }
  for (const block of columnRoot.querySelectorAll('section.day, section.pinned')) {
    if (block.querySelector('li.row')) block.hidden = !block.querySelector('li.row:not([hidden])');
  }
  const none = columnRoot.querySelector('.no-match');
  if (none) none.hidden = !words || shown > 0;
  for (const li of $('queue-list').children) {
    li.hidden = Boolean(words) && !li.dataset.search.includes(words);
  }
}
search.addEventListener('input', applySearch);

// -- the review queue ------------------------------------------------------------------------

const drafts = new Map();
let queueRendered = '';

function button(text, onClick, className = '') {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  if (className) b.className = className;
  b.addEventListener('click', onClick);
  return b;
}

async function loadQueue() {
  const author = $('queue-author').value;
  const { status: code, data } = await api('GET', `/v1/drafts${author ? `?author=${encodeURIComponent(author)}` : ''}`);
  if (code !== 200) return;
  const list = data.drafts ?? [];
  const signature = JSON.stringify(list);
  if (signature === queueRendered) return;
  queueRendered = signature;
  drafts.clear();
  const ul = $('queue-list');
  const kept = new Map([...ul.children].map((li) => [li.dataset.id, li.querySelector('.outcome')]));
  ul.replaceChildren();
  for (const draft of list) {
    drafts.set(draft.id, draft);
    const li = document.createElement('li');
    li.className = 'draft';
    li.dataset.id = draft.id;
    li.dataset.search = String(draft.title).toLocaleLowerCase();
    const head = document.createElement('h3');
    head.dir = 'auto';
    head.textContent = draft.title;
    head.id = `draft-${draft.id}`;
    const meta = document.createElement('p');
    meta.className = 'meta';
    const bits = [M('by {author}', { author: draft.author ?? '?' }), when(draft.updated_at)];
    if (draft.section) bits.push(draft.section);
    if (draft.embargoed_until) bits.push(M('embargoed until {time}', { time: when(draft.embargoed_until) }));
    meta.textContent = bits.filter(Boolean).join(' · ');
    li.append(head, meta);
    // What an editor approves, as readers will see it: its marks (breaking, labels) and link.
    const marks = (draft.urgency && draft.urgency <= 2) ? [config.labels.breaking] : [];
    for (const label of draft.labels ?? []) marks.push(config.labels[label] ?? label);
    if (marks.length || draft.url) {
      const shown = document.createElement('p');
      shown.className = 'marks';
      shown.textContent = [...new Set(marks)].join(' · ');
      if (draft.url) {
        const link = document.createElement('a');
        link.href = draft.url; // an http(s) URL: the article model takes no other
        link.rel = 'noopener noreferrer';
        link.target = '_blank';
        link.dir = 'ltr';
        link.textContent = draft.url;
        shown.append(marks.length ? ' · ' : '', link);
      }
      li.append(shown);
    }
    if (draft.returned) {
      const note = document.createElement('p');
      note.className = 'returned';
      note.dir = 'auto';
      note.textContent = M('Returned by {by}: {note}', { by: draft.returned.by, note: draft.returned.note });
      li.append(note);
    }
    const actions = document.createElement('div');
    actions.className = 'actions';
    actions.setAttribute('role', 'group');
    actions.setAttribute('aria-labelledby', head.id);
    const line = kept.get(draft.id) ?? Object.assign(document.createElement('p'), { className: 'outcome' });
    line.setAttribute('role', 'status');
    actions.append(button(M('Edit'), () => startEditing(draft, true)));
    if (editor) {
      actions.append(button(M('Approve'), async () => {
        const end = await report(line, await api('POST', `/v1/articles/${encodeURIComponent(draft.id)}/publish`, { version: draft.version }));
        if (end.state === 'stale') showStale(line, end.current);
        loadQueue();
      }, 'primary'));
      actions.append(button(M('Return'), async () => {
        const got = await ask({
          heading: M('Return “{title}” to its author', { title: draft.title }),
          noteLabel: M('Note to the author (required)'), ok: M('Return'),
        });
        if (!got) return;
        const end = await report(line, await api('POST', `/v1/articles/${encodeURIComponent(draft.id)}/return`, {
          note: got.note, version: draft.version,
        }));
        if (end.state === 'stale') showStale(line, end.current);
        loadQueue();
      }));
    }
    li.append(actions, line);
    ul.append(li);
  }
  $('queue-empty').hidden = list.length > 0;
  applySearch();
}
$('queue-author').addEventListener('change', () => {
  queueRendered = '';
  loadQueue();
});

// -- presence --------------------------------------------------------------------------------

function markOpen() {
  for (const row of columnRoot.querySelectorAll('li.row')) {
    const names = people.filter((p) => p.name !== config.name && p.open.includes(row.dataset.id)).map((p) => p.name);
    const line = row.querySelector('.open-by');
    if (!line) continue;
    line.hidden = !names.length;
    line.textContent = names.length ? M('Open by {names}', { names: names.join(', ') }) : '';
  }
}

async function beat() {
  const { status: code, data } = await api('POST', '/desk/presence', { open: editing?.id ?? null });
  if (code !== 200) return;
  {
    people = data.people;
    if (data.drafts_event !== draftsEvent) {
      draftsEvent = data.drafts_event;
      loadQueue();
    }
    const others = people.filter((p) => p.name !== config.name);
    const line = $('presence');
    if (!others.length) {
      line.textContent = M('Only you are on the desk.');
    } else {
      line.textContent = M('Also on the desk: {names}', {
        names: others.map((p) => {
          const open = p.open.map((id) => columnItems[id]?.title ?? drafts.get(id)?.title ?? id);
          return open.length ? M('{name} (editing “{title}”)', { name: p.name, title: open.join('”, “') }) : p.name;
        }).join(', '),
      });
    }
    markOpen();
  }
}

// -- keyboard --------------------------------------------------------------------------------

document.addEventListener('keydown', (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === 'Enter' && !dialog.open) {
    event.preventDefault();
    form.requestSubmit($('publish'));
    return;
  }
  if (event.key === 'Escape' && editing && !dialog.open) {
    stopEditing();
    return;
  }
  const target = event.target;
  const typing = target instanceof Element && target.closest('input, textarea, select, [contenteditable]');
  if (typing || event.ctrlKey || event.metaKey || event.altKey || dialog.open) return;
  if (event.key === 'c') {
    event.preventDefault();
    $('compose').scrollIntoView({ block: 'start' });
    title.focus();
  } else if (event.key === '/') {
    event.preventDefault();
    search.focus();
  }
});

// -- start -----------------------------------------------------------------------------------

updateCount();
setEditing(null);
connect();
loadQueue();
setInterval(beat, config.presenceEvery);
