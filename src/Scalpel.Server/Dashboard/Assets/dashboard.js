// The Scalpel dashboard: plain JS over the server's OpenAI-shaped API (/v1). Nothing here is built or fetched from
// elsewhere. Every value from the server is put on the page as text (textContent), never parsed as HTML; the one
// exception, a compare.html report, is shown in a sandboxed frame (no scripts, an opaque origin).
'use strict';

(function () {
  // A script error shows on the page (and in data-errors, for tests) instead of leaving a half-working page.
  window.addEventListener('error', (e) => showError(e.message || String(e.error)));
  window.addEventListener('unhandledrejection', (e) => showError((e.reason && e.reason.message) || String(e.reason)));

  const POLL_MS = 1500;
  const KEY_STORAGE = 'scalpel.apiKey';
  const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

  const $ = (id) => document.getElementById(id);
  const state = {
    key: sessionStorage.getItem(KEY_STORAGE) || '',
    tab: 'jobs',
    baseModel: '',
    jobs: [],
    job: null,        // the selected job's view: {id, data, events[], eventIds, checkpoints[], chart, finalPolls, loading}
    files: [],
    fileId: null,
    models: null,
    chat: { messages: [], controller: null },
  };

  // ── helpers ──

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('data-')) node.setAttribute(k, v);
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    return node;
  }

  function showError(message) {
    const n = +(document.documentElement.getAttribute('data-errors') || 0) + 1;
    document.documentElement.setAttribute('data-errors', String(n));
    const box = $('errors');
    if (!box) return;
    box.hidden = false;
    box.textContent = 'The dashboard hit an error: ' + message;
  }

  const time = (unix) => (unix ? new Date(unix * 1000).toLocaleString() : '');
  const clock = (unix) => (unix ? new Date(unix * 1000).toLocaleTimeString() : '');
  const bytes = (n) => (n >= 1 << 20 ? (n / (1 << 20)).toFixed(1) + ' MB' : n >= 1024 ? (n / 1024).toFixed(1) + ' kB' : n + ' B');
  const num = (v) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : v === null || v === undefined ? '' : String(v));

  // ── the API ──

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  /** fetch with the key (when one is set); a 401 asks for a key. */
  async function call(path, options) {
    const opts = Object.assign({}, options);
    const headers = new Headers(opts.headers || {});
    if (state.key) headers.set('Authorization', 'Bearer ' + state.key);
    opts.headers = headers;
    const res = await fetch(path, opts);
    if (res.status === 401) {
      askForKey(state.key ? 'The server refused this API key: give another one.' : 'This server needs an API key.');
      throw new ApiError(401, 'an API key is needed');
    }
    return res;
  }

  /** The JSON answer; an error answer throws with the server's message. */
  async function api(path, options) {
    const res = await call(path, options);
    const text = await res.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    if (!res.ok) throw new ApiError(res.status, (body && body.error && body.error.message) || `${res.status} ${res.statusText}: ${text.slice(0, 200)}`);
    return body;
  }

  /** Every item of an OpenAI list (newest first), following has_more/after up to a bound. */
  async function listAll(path, limit, maxPages) {
    const items = [];
    let after = null;
    for (let page = 0; page < maxPages; page++) {
      const sep = path.includes('?') ? '&' : '?';
      const body = await api(`${path}${sep}limit=${limit}${after ? '&after=' + encodeURIComponent(after) : ''}`);
      items.push(...body.data);
      if (!body.has_more || body.data.length === 0) break;
      after = body.data[body.data.length - 1].id;
    }
    return items;
  }

  // ── API key ──

  function askForKey(reason) {
    $('key-reason').textContent = reason;
    $('key-panel').hidden = false;
    $('app').hidden = true;
    $('key-input').focus();
  }

  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.key = $('key-input').value.trim();
    sessionStorage.setItem(KEY_STORAGE, state.key);
    $('key-input').value = '';
    start();
  });

  $('key-forget').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_STORAGE);
    state.key = '';
    location.reload();
  });

  // ── tabs ──

  function showTab(tab) {
    state.tab = tab;
    for (const b of document.querySelectorAll('nav button')) b.classList.toggle('active', b.dataset.tab === tab);
    for (const s of document.querySelectorAll('section.tab')) s.hidden = s.id !== 'tab-' + tab;
    if (location.hash !== '#' + tab) history.replaceState(null, '', '#' + tab);
    if (tab === 'files') refreshFiles().catch(report);
    if (tab === 'reports') refreshReports().catch(report);
    if (tab === 'playground' && state.models === null) refreshModels().catch(report);
  }

  for (const b of document.querySelectorAll('nav button')) b.addEventListener('click', () => showTab(b.dataset.tab));

  /** An API error that is not a missing key goes to the error line of the view it belongs to. */
  function report(err, line) {
    if (err instanceof ApiError && err.status === 401) return;
    if (line) {
      line.textContent = err.message;
      line.classList.add('error');
    } else showError(err.message);
  }

  // ── jobs ──

  async function refreshJobs() {
    const body = await api('/v1/fine_tuning/jobs?limit=100');
    state.jobs = body.data;
    const tbody = $('jobs-table').tBodies[0];
    tbody.replaceChildren(...state.jobs.map((j) => el('tr', {
      'data-id': j.id, 'data-job-id': j.id, 'data-status': j.status,
      class: state.job && state.job.id === j.id ? 'selected' : '',
      onclick: () => selectJob(j.id),
    },
    el('td', {}, el('div', { text: j.user_provided_suffix || j.fine_tuned_model || j.model }), el('div', { class: 'id', text: j.id })),
    el('td', {}, el('span', { class: 'status ' + j.status, text: j.status })),
    el('td', { text: time(j.created_at) }))));
    $('jobs-empty').hidden = state.jobs.length > 0;
    if (!state.job && state.jobs.length > 0) selectJob(state.jobs[0].id);
  }

  function selectJob(id) {
    if (state.job && state.job.id === id) return;
    if (state.job && state.job.chart) state.job.chart.destroy();
    state.job = { id, data: null, events: [], eventIds: new Set(), checkpoints: [], chart: null, finalPolls: 0, loading: null };
    for (const tr of $('jobs-table').tBodies[0].rows) tr.classList.toggle('selected', tr.dataset.id === id);
    $('job-events').replaceChildren();
    $('job-checkpoints').tBodies[0].replaceChildren();
    const chart = $('loss-chart');
    chart.replaceChildren(el('p', { class: 'muted', text: 'No loss recorded yet.' }));
    chart.dataset.points = '0';
    refreshJob().catch(report);
  }

  /** Reloads the selected job (status, new events, checkpoints) and redraws it; one load at a time per job. */
  function refreshJob() {
    const view = state.job;
    if (!view || view.finalPolls >= 2) return Promise.resolve();
    if (!view.loading) view.loading = loadJob(view).finally(() => { view.loading = null; });
    return view.loading;
  }

  async function loadJob(view) {
    const job = await api('/v1/fine_tuning/jobs/' + encodeURIComponent(view.id));
    await loadEvents(view);
    view.checkpoints = await listAll(`/v1/fine_tuning/jobs/${encodeURIComponent(view.id)}/checkpoints`, 100, 10);
    if (state.job !== view) return;   // another job was picked meanwhile
    view.data = job;
    renderJob(view);
    // A finished job is loaded once more (for events written as it ended), then no longer polled.
    if (FINAL.has(job.status)) view.finalPolls++;
  }

  /** New events since the last poll: the newest page, then older pages until a known event shows up. */
  async function loadEvents(view) {
    const fresh = [];
    let after = null;
    for (let page = 0; page < 50; page++) {
      const body = await api(`/v1/fine_tuning/jobs/${encodeURIComponent(view.id)}/events?limit=200${after ? '&after=' + encodeURIComponent(after) : ''}`);
      let reachedKnown = false;
      for (const e of body.data) {
        if (view.eventIds.has(e.id)) { reachedKnown = true; break; }
        fresh.push(e);
      }
      if (reachedKnown || !body.has_more || body.data.length === 0) break;
      after = body.data[body.data.length - 1].id;
    }
    for (const e of fresh) view.eventIds.add(e.id);
    view.events = fresh.concat(view.events);   // newest first
  }

  function renderJob(view) {
    const j = view.data;
    $('job-detail').hidden = false;
    $('job-detail').dataset.jobId = j.id;
    $('job-detail').dataset.status = j.status;
    $('job-title').textContent = j.user_provided_suffix ? `${j.user_provided_suffix} (${j.id})` : j.id;
    const status = $('job-status');
    status.textContent = j.status;
    status.className = 'status ' + j.status;
    $('job-cancel').hidden = FINAL.has(j.status);
    $('job-chat').hidden = !(j.status === 'succeeded' && j.fine_tuned_model);
    const error = $('job-error');
    error.hidden = !j.error;
    error.textContent = j.error ? `${j.error.code}: ${j.error.message}` : '';

    const hp = j.hyperparameters || {};
    const fields = [
      ['Base model', j.model], ['Fine-tuned model', j.fine_tuned_model || '—'],
      ['Training file', j.training_file], ['Validation file', j.validation_file || '—'],
      ['Epochs', num(hp.n_epochs)], ['Batch size', num(hp.batch_size)], ['LR multiplier', num(hp.learning_rate_multiplier)],
      ['Seed', num(j.seed)], ['Trained tokens', num(j.trained_tokens)],
      ['Created', time(j.created_at)], ['Finished', time(j.finished_at) || '—'],
    ];
    $('job-fields').replaceChildren(...fields.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));

    $('job-checkpoints').tBodies[0].replaceChildren(...view.checkpoints.map((c) => el('tr', { 'data-step': c.step_number },
      el('td', { text: c.step_number }), el('td', { text: num(c.metrics && c.metrics.train_loss) }),
      el('td', { text: num(c.metrics && c.metrics.valid_loss) }), el('td', { class: 'id', text: c.fine_tuned_model_checkpoint }))));

    $('job-events').replaceChildren(...view.events.slice(0, 300).map((e) => el('li', { class: e.level, 'data-type': e.type },
      el('time', { text: clock(e.created_at) }), e.message)));

    drawLoss(view);
  }

  /** train_loss and valid_loss by step, from the metrics events and the checkpoints' metrics. */
  function lossPoints(view) {
    const byStep = new Map();
    const put = (m) => {
      if (!m || typeof m.step !== 'number') return;
      const p = byStep.get(m.step) || { train: null, valid: null };
      if (typeof m.train_loss === 'number') p.train = m.train_loss;
      if (typeof m.valid_loss === 'number') p.valid = m.valid_loss;
      byStep.set(m.step, p);
    };
    for (const e of view.events) if (e.type === 'metrics') put(e.data);
    for (const c of view.checkpoints) put(c.metrics);
    const steps = [...byStep.keys()].filter((s) => byStep.get(s).train !== null || byStep.get(s).valid !== null).sort((a, b) => a - b);
    return [steps, steps.map((s) => byStep.get(s).train), steps.map((s) => byStep.get(s).valid)];
  }

  function drawLoss(view) {
    const data = lossPoints(view);
    const box = $('loss-chart');
    const trainPoints = data[1].filter((v) => v !== null).length;
    const validPoints = data[2].filter((v) => v !== null).length;
    box.dataset.trainPoints = String(trainPoints);
    box.dataset.validPoints = String(validPoints);
    if (data[0].length === 0) return;
    const width = Math.max(320, box.clientWidth || 600);
    if (!view.chart) {
      box.replaceChildren();
      view.chart = new uPlot({
        width, height: 260,
        scales: { x: { time: false } },
        axes: [{ label: 'step' }, { label: 'loss' }],
        series: [
          { label: 'step' },
          { label: 'train loss', stroke: '#2f5bd3', width: 1.5, spanGaps: true, points: { show: false } },
          { label: 'valid loss', stroke: '#d9480f', width: 2, spanGaps: true, points: { show: true, size: 6 } },
        ],
      }, data, box);
    } else {
      view.chart.setData(data);
      if (Math.abs(view.chart.width - width) > 4) view.chart.setSize({ width, height: 260 });
    }
    // Set once the chart has drawn these points: what a test (or a person with dev tools) can read.
    box.dataset.points = String(trainPoints + validPoints);
  }

  $('job-cancel').addEventListener('click', async () => {
    const view = state.job;
    if (!view || !confirm(`Cancel ${view.id}?`)) return;
    try {
      await api(`/v1/fine_tuning/jobs/${encodeURIComponent(view.id)}/cancel`, { method: 'POST' });
      await refreshJob();
      await refreshJobs();
    } catch (err) { report(err, $('job-form-status')); }
  });

  $('job-chat').addEventListener('click', () => {
    const model = state.job && state.job.data && state.job.data.fine_tuned_model;
    if (!model) return;
    showTab('playground');
    refreshModels(model).catch(report);
  });

  // ── create a job ──

  async function upload(file) {
    const form = new FormData();
    form.append('purpose', 'fine-tune');
    form.append('file', file, file.name);
    return api('/v1/files', { method: 'POST', body: form });
  }

  function hyper(input, parse) {
    const v = input.value.trim();
    return v === '' ? 'auto' : parse(v);
  }

  $('job-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const line = $('job-form-status');
    const submit = $('job-submit');
    line.className = 'status-line';
    submit.disabled = true;
    try {
      const training = $('job-training-file').files[0];
      const validation = $('job-validation-file').files[0];
      line.textContent = `Uploading ${training.name}…`;
      const trainingFile = await upload(training);
      let validationFile = null;
      if (validation) {
        line.textContent = `Uploading ${validation.name}…`;
        validationFile = await upload(validation);
      }
      const checks = [trainingFile, validationFile].filter((f) => f && f.status_details).map((f) => `${f.filename}: ${f.status_details}`);
      const body = {
        model: $('job-model').value.trim(),
        training_file: trainingFile.id,
        method: {
          type: 'supervised',
          supervised: {
            hyperparameters: {
              n_epochs: hyper($('job-epochs'), (v) => parseInt(v, 10)),
              batch_size: hyper($('job-batch'), (v) => parseInt(v, 10)),
              learning_rate_multiplier: hyper($('job-lr'), parseFloat),
            },
          },
        },
      };
      if (validationFile) body.validation_file = validationFile.id;
      const suffix = $('job-suffix').value.trim();
      if (suffix) body.suffix = suffix;
      line.textContent = 'Creating the job…';
      const job = await api('/v1/fine_tuning/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      line.textContent = `Created ${job.id}.` + (checks.length ? ' The data check found errors (the job will fail): ' + checks.join('; ') : '');
      if (checks.length) line.classList.add('error');
      selectJob(job.id);
      await refreshJobs();
    } catch (err) {
      report(err, line);
    } finally {
      submit.disabled = false;
    }
  });

  // ── files and their data check ──

  async function refreshFiles() {
    state.files = await listAll('/v1/files', 1000, 10);
    $('files-table').tBodies[0].replaceChildren(...state.files.map((f) => el('tr', {
      'data-id': f.id, 'data-file-id': f.id, class: f.id === state.fileId ? 'selected' : '', onclick: () => showFile(f.id),
    },
    el('td', {}, el('div', { text: f.filename }), el('div', { class: 'id', text: `${f.id} · ${bytes(f.bytes)} · ${time(f.created_at)}` })),
    el('td', { text: f.purpose }),
    el('td', {}, f.purpose !== 'fine-tune' ? el('span', { class: 'muted', text: 'not checked' })
      : f.status_details ? el('span', { class: 'status bad', text: 'errors' }) : el('span', { class: 'status ok', text: 'ok' })))));
    $('files-empty').hidden = state.files.length > 0;
  }

  async function showFile(id) {
    state.fileId = id;
    for (const tr of $('files-table').tBodies[0].rows) tr.classList.toggle('selected', tr.dataset.id === id);
    const panel = $('file-report');
    const file = state.files.find((f) => f.id === id);
    panel.hidden = false;
    panel.dataset.fileId = id;
    delete panel.dataset.loaded;
    $('file-title').textContent = file ? `${file.filename} (${id})` : id;
    for (const t of ['file-errors', 'file-warnings', 'file-stats']) $(t).tBodies[0].replaceChildren();
    $('file-first-error').hidden = true;
    if (file && file.purpose !== 'fine-tune') {
      $('file-summary').textContent = `Purpose '${file.purpose}': only fine-tune files get a data check.`;
      panel.dataset.loaded = 'true';
      return;
    }
    $('file-summary').textContent = 'Loading the data check…';
    let check;
    try {
      check = await api(`/v1/files/${encodeURIComponent(id)}/check`);
    } catch (err) {
      report(err, $('file-summary'));
      return;
    }
    if (state.fileId !== id) return;
    const r = check.report;
    if (!r) {
      $('file-summary').textContent = check.first_error || 'No report was kept for this file.';
      panel.dataset.loaded = 'true';
      return;
    }
    $('file-summary').textContent = `${r.examples} examples · format ${r.format} · ${r.error_count} error(s) · ${r.warning_count} warning(s)`;
    if (check.first_error) {
      $('file-first-error').hidden = false;
      $('file-first-error').textContent = 'First error: ' + check.first_error;
    }
    const issues = (list, table, empty) => {
      $(table).tBodies[0].replaceChildren(...(list.length === 0 ? [el('tr', {}, el('td', { colSpan: 4, class: 'muted', text: empty }))]
        : list.map((i) => el('tr', { 'data-line': i.line },
          el('td', { text: i.line > 0 ? 'line ' + i.line : '' }), el('td', { class: 'mono', text: i.field }),
          el('td', { class: 'mono', text: i.code }), el('td', { text: i.message })))));
    };
    const shown = (list, total) => (total > list.length ? ` (the first ${list.length} of ${total})` : '');
    issues(r.errors, 'file-errors', 'No errors.' + shown(r.errors, r.error_count));
    issues(r.warnings, 'file-warnings', 'No warnings.');
    $('file-stats').tBodies[0].replaceChildren(...statRows(r.stats));
    panel.dataset.loaded = 'true';
    panel.dataset.errorCount = String(r.error_count);
  }

  /** The stats object as rows: counts as numbers, distributions as min / p50 / p90 / max, maps as "k: v" lists. */
  function statRows(stats, prefix) {
    const rows = [];
    for (const [k, v] of Object.entries(stats || {})) {
      const name = (prefix ? prefix + '.' : '') + k;
      if (v === null || v === undefined) continue;
      if (typeof v !== 'object') rows.push(el('tr', { 'data-stat': name }, el('th', { text: name.replaceAll('_', ' ') }), el('td', { text: num(v) })));
      else if ('p50' in v && 'count' in v) {
        rows.push(el('tr', { 'data-stat': name }, el('th', { text: name.replaceAll('_', ' ') }),
          el('td', { text: `min ${num(v.min)} · median ${num(v.p50)} · p90 ${num(v.p90)} · p99 ${num(v.p99)} · max ${num(v.max)} · mean ${num(v.mean)}` })));
      } else if (Object.values(v).every((x) => typeof x !== 'object' || x === null)) {
        const text = Object.entries(v).map(([a, b]) => `${a}: ${num(b)}`).join(', ');
        rows.push(el('tr', { 'data-stat': name }, el('th', { text: name.replaceAll('_', ' ') }), el('td', { text: text || '—' })));
      } else rows.push(...statRows(v, name));
    }
    return rows;
  }

  // ── reports ──

  async function refreshReports() {
    const body = await api('/v1/reports');
    const byDir = new Map();
    for (const r of body.data) {
      if (!byDir.has(r.directory)) byDir.set(r.directory, []);
      byDir.get(r.directory).push(r);
    }
    const order = { html: 0, md: 1, json: 2 };
    $('reports-list').replaceChildren(...[...byDir].map(([dir, files]) => el('li', { 'data-directory': dir },
      el('div', { text: dir || '(data folder)' }),
      el('div', { class: 'id', text: time(Math.max(...files.map((f) => f.modified_at))) }),
      el('div', { class: 'formats' }, ...files.sort((a, b) => order[a.format] - order[b.format]).map((f) =>
        el('button', { type: 'button', class: 'link', 'data-report': f.id, text: f.format, onclick: () => openReport(f).catch((e) => report(e)) }))))));
    $('reports-empty').hidden = body.data.length > 0;
  }

  async function openReport(r) {
    const res = await call('/v1/reports/content?path=' + encodeURIComponent(r.id));
    const text = await res.text();
    if (!res.ok) throw new ApiError(res.status, text);
    const view = $('report-view');
    view.hidden = false;
    view.dataset.report = r.id;
    $('report-title').textContent = r.id;
    const frame = $('report-frame');
    const pre = $('report-text');
    if (r.format === 'html') {
      // sandbox="" (no scripts, an opaque origin): the report is shown, it cannot act.
      frame.srcdoc = text;
      frame.hidden = false;
      pre.hidden = true;
    } else {
      pre.textContent = r.format === 'json' ? JSON.stringify(JSON.parse(text), null, 2) : text;
      pre.hidden = false;
      frame.hidden = true;
      frame.removeAttribute('srcdoc');
    }
  }

  $('reports-refresh').addEventListener('click', () => refreshReports().catch((e) => report(e)));

  // ── playground ──

  async function refreshModels(pick) {
    const select = $('pg-model');
    const line = $('pg-models-status');
    let body;
    try {
      body = await api('/v1/models');
    } catch (err) {
      state.models = [];
      select.replaceChildren();
      line.textContent = err.status === 404 ? 'This server has no inference API (GET /v1/models answered 404).' : err.message;
      return;
    }
    state.models = body.data.map((m) => m.id);
    const previous = pick || select.value;
    select.replaceChildren(...state.models.map((id) => el('option', { value: id, text: id })));
    if (previous && state.models.includes(previous)) select.value = previous;
    line.textContent = `${state.models.length} model(s): the base, adapters and fine-tuned (ft:…) models.`;
    if (pick && !state.models.includes(pick)) line.textContent = `${pick} is not served yet; refresh in a moment.`;
  }

  $('pg-models-refresh').addEventListener('click', () => refreshModels().catch(report));

  function bubble(role, text) {
    const body = el('div', { class: 'text', text });
    const node = el('div', { class: 'msg ' + role, 'data-role': role }, el('span', { class: 'role', text: role }), body);
    $('pg-transcript').append(node);
    node.scrollIntoView({ block: 'end' });
    return { node, body };
  }

  function setBusy(busy) {
    $('pg-send').disabled = busy;
    $('pg-stop').hidden = !busy;
  }

  /** Reads an SSE body (OpenAI's chat.completion.chunk stream) and calls onEvent with each parsed data payload. */
  async function readEvents(body, onEvent, onRead) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = (buffer + decoder.decode(value, { stream: true })).replace(/\r\n/g, '\n');
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
        if (data === '') continue;   // a comment or keep-alive
        if (data === '[DONE]') return;
        if (onEvent(JSON.parse(data)) === false) return;
      }
      onRead();
    }
  }

  async function send() {
    const text = $('pg-input').value.trim();
    const model = $('pg-model').value;
    const line = $('pg-status');
    if (!text || state.chat.controller) return;
    line.className = 'status-line';
    if (!model) { line.textContent = 'Pick a model first.'; return; }
    $('pg-input').value = '';
    state.chat.messages.push({ role: 'user', content: text });
    bubble('user', text);
    const answer = bubble('assistant', '');
    answer.node.dataset.streaming = 'true';
    const system = $('pg-system').value.trim();
    const request = {
      model,
      messages: (system ? [{ role: 'system', content: system }] : []).concat(state.chat.messages),
      stream: true,
    };
    const temperature = parseFloat($('pg-temperature').value);
    if (!Number.isNaN(temperature)) request.temperature = temperature;
    const maxTokens = parseInt($('pg-max-tokens').value, 10);
    if (!Number.isNaN(maxTokens)) request.max_tokens = maxTokens;

    const controller = new AbortController();
    state.chat.controller = controller;
    setBusy(true);
    line.textContent = `${model} is answering…`;
    let content = '';
    let deltas = 0;
    let renders = 0;
    let finish = null;
    const started = performance.now();
    let firstToken = null;
    try {
      const res = await call('/v1/chat/completions', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(request), signal: controller.signal,
      });
      if (!res.ok) {
        const body = await res.text();
        let message = body;
        try { message = JSON.parse(body).error.message; } catch { /* not JSON */ }
        throw new ApiError(res.status, `${res.status}: ${message}`);
      }
      await readEvents(res.body, (chunk) => {
        if (chunk.error) throw new ApiError(500, chunk.error.message || JSON.stringify(chunk.error));
        const choice = chunk.choices && chunk.choices[0];
        if (!choice) return true;   // the usage chunk
        if (choice.delta && typeof choice.delta.content === 'string' && choice.delta.content !== '') {
          if (firstToken === null) firstToken = performance.now();
          content += choice.delta.content;
          deltas++;
        }
        if (choice.finish_reason) finish = choice.finish_reason;
        return true;
      }, () => {
        // Once per read: the text grows on the page as the tokens arrive.
        if (answer.body.textContent !== content) {
          answer.body.textContent = content;
          renders++;
          answer.node.dataset.renders = String(renders);
          answer.node.scrollIntoView({ block: 'end' });
        }
      });
      answer.body.textContent = content;
      state.chat.messages.push({ role: 'assistant', content });
      const seconds = (performance.now() - started) / 1000;
      line.textContent = `${deltas} chunk(s) in ${seconds.toFixed(1)} s` + (firstToken ? `, first after ${((firstToken - started) / 1000).toFixed(2)} s` : '') +
        (finish ? ` · finish: ${finish}` : '');
      if (content === '') answer.body.textContent = '(empty answer)';
    } catch (err) {
      if (err.name === 'AbortError') {
        line.textContent = 'Stopped.';
        if (content) state.chat.messages.push({ role: 'assistant', content });
      } else if (!(err instanceof ApiError && err.status === 401)) {
        answer.node.classList.add('error');
        answer.body.textContent = content + (content ? '\n' : '') + 'Error: ' + err.message;
        line.textContent = '';
        // The question stays in the box to send again; it leaves the conversation.
        state.chat.messages.pop();
        $('pg-input').value = text;
      }
    } finally {
      answer.node.dataset.streaming = 'false';
      answer.node.dataset.deltas = String(deltas);
      if (finish) answer.node.dataset.finish = finish;
      state.chat.controller = null;
      setBusy(false);
    }
  }

  $('pg-form').addEventListener('submit', (e) => { e.preventDefault(); send().catch(report); });
  $('pg-input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); send().catch(report); }
  });
  $('pg-stop').addEventListener('click', () => state.chat.controller && state.chat.controller.abort());
  $('pg-reset').addEventListener('click', () => {
    if (state.chat.controller) state.chat.controller.abort();
    state.chat.messages = [];
    $('pg-transcript').replaceChildren();
    $('pg-status').textContent = '';
  });

  // ── start and poll ──

  let polling = false;

  async function poll() {
    try {
      if (!document.hidden && !$('app').hidden && state.tab === 'jobs') {
        await refreshJobs();
        await refreshJob();
      }
    } catch (err) {
      report(err, $('job-form-status'));
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  async function start() {
    let info;
    try {
      info = await api('/v1/dashboard');
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) showError(err.message);
      return;
    }
    $('key-panel').hidden = true;
    $('app').hidden = false;
    $('key-forget').hidden = !state.key;
    state.baseModel = info.base_model;
    if (!$('job-model').value) $('job-model').value = info.base_model;
    $('server-info').textContent = 'base model ' + info.base_model;
    const tab = location.hash.slice(1);
    showTab(['jobs', 'files', 'reports', 'playground'].includes(tab) ? tab : 'jobs');
    document.body.dataset.ready = 'true';
    if (!polling) {
      polling = true;
      poll();
    }
  }

  start();
})();
