// Drives the dashboard of a running `scalpel serve` in headless Chromium (Debian's /usr/bin/chromium) through
// playwright-core (installed by run-tests into tests/oracles/js). Called by DashboardTests.cs:
//
//   node dashboard.mjs SCENARIO INPUT.json
//
// Each scenario clicks through the page as a person would and writes what it saw as one JSON object on the last line
// of stdout; the C# test asserts on it. A step that does not happen in time fails with the step's name, and the
// page's console and errors are always part of the answer.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const [scenario, inputPath] = process.argv.slice(2);
const input = JSON.parse(readFileSync(inputPath, 'utf8'));
const require = createRequire(path.join(input.oracles, 'package.json'));
const { chromium } = require('playwright-core');

const started = Date.now();
const out = { scenario, steps: [], console: [], pageErrors: [] };
let step = 'start';
function mark(name) {
  out.steps.push({ step, ms: Date.now() - started });
  step = name;
}

const browser = await chromium.launch({
  executablePath: input.chromium || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking', '--disable-component-update'],
});
let exitCode = 0;
let page = null;
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  // Nothing may be fetched from anywhere but the server under test.
  const origin = new URL(input.url).origin;
  out.foreignRequests = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(origin) || url.startsWith('data:') || url.startsWith('about:')) return route.continue();
    out.foreignRequests.push(url);
    return route.abort();
  });
  page = await context.newPage();
  page.setDefaultTimeout(input.stepTimeoutMs || 20000);
  page.on('console', (m) => out.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => out.pageErrors.push(String(e && e.stack || e)));
  page.on('dialog', (d) => d.accept());

  const scenarios = { jobs, chat, playground, keys };
  if (!scenarios[scenario]) throw new Error(`unknown scenario ${scenario}`);
  await scenarios[scenario](page);
  mark('done');
  out.dataErrors = await page.evaluate(() => document.documentElement.getAttribute('data-errors'));
} catch (e) {
  out.failedStep = step;
  out.error = String(e && e.stack || e);
  // What the page showed when the step gave up.
  try { out.pageText = (await page.evaluate(() => document.body.innerText)).slice(0, 4000); } catch { /* the page is gone */ }
  exitCode = 1;
} finally {
  await browser.close();
}
out.totalMs = Date.now() - started;
console.log(JSON.stringify(out));
process.exit(exitCode);

// ── scenarios ──

/** Upload and create a job from the form, cancel a second one, read a report and two check reports, watch the first finish. */
async function jobs(page) {
  mark('open the page');
  await page.goto(input.url);
  await page.waitForSelector('body[data-ready="true"]');
  out.baseModelField = await page.inputValue('#job-model');

  mark('create the job from the form');
  await page.setInputFiles('#job-training-file', input.train);
  await page.setInputFiles('#job-validation-file', input.valid);
  await page.fill('#job-epochs', String(input.epochs));
  await page.fill('#job-batch', String(input.batchSize));
  await page.fill('#job-lr', String(input.lrMultiplier));
  await page.fill('#job-suffix', input.suffix);
  out.jobId = await submitJob(page);
  out.createStatus = await page.textContent('#job-form-status');

  // The chart fills in while the job runs: watch until it has points (or the job is already done).
  mark('watch the job start');
  out.timeline = [];
  await watch(page, out.jobId, (seen) => (seen.status === 'running' && seen.points > 0) || seen.status === 'succeeded');

  // The worker trains one job at a time: the second waits in the queue behind the first, and is cancelled there.
  mark('create a second job and cancel it');
  await page.setInputFiles('#job-validation-file', []);
  await page.fill('#job-suffix', 'to-cancel');
  out.cancelledJobId = await submitJob(page);
  await page.waitForSelector(`#job-detail[data-job-id="${out.cancelledJobId}"]`);
  await page.click('#job-cancel');
  await page.waitForSelector('#job-detail[data-status="cancelled"]');
  out.cancelButtonHiddenAfter = await page.isHidden('#job-cancel');
  await shot(page, 'cancelled');

  mark('watch the first job until it succeeds');
  await page.click(`#jobs-table tr[data-job-id="${out.jobId}"]`);
  await watch(page, out.jobId, (seen) => seen.status === 'succeeded');
  // The page loads a finished job once more for its last events: wait for the event that says so.
  await page.waitForFunction(() => [...document.querySelectorAll('#job-events li')].some((li) => li.textContent.includes('successfully completed')));
  out.chart = await page.evaluate(() => {
    const c = document.getElementById('loss-chart');
    return { points: +c.dataset.points, trainPoints: +c.dataset.trainPoints, validPoints: +c.dataset.validPoints, canvases: c.querySelectorAll('canvas').length, legend: c.innerText };
  });
  out.fields = await page.$$eval('#job-fields dt', (dts) => Object.fromEntries(dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
  out.checkpointSteps = await page.$$eval('#job-checkpoints tbody tr', (rows) => rows.map((r) => +r.dataset.step));
  out.events = await page.$$eval('#job-events li', (lis) => lis.map((li) => li.textContent));
  out.chatButtonVisible = await page.isVisible('#job-chat');
  await shot(page, 'job');

  mark('open a compare report');
  await page.click('nav button[data-tab="reports"]');
  await page.click(`button[data-report="${input.report}/compare.html"]`);
  await page.waitForSelector('#report-frame:not([hidden])');
  const frame = page.frameLocator('#report-frame');
  out.reportHtmlText = await frame.locator('body').innerText();
  out.reportFrameSandbox = await page.getAttribute('#report-frame', 'sandbox');
  await page.click(`button[data-report="${input.report}/compare.md"]`);
  await page.waitForSelector('#report-text:not([hidden])');
  out.reportMdText = await page.textContent('#report-text');
  out.reportDirectories = await page.$$eval('#reports-list li', (lis) => lis.map((li) => li.dataset.directory));
  await page.click(`button[data-report="${input.report}/compare.html"]`);
  await shot(page, 'report');

  mark('open the check report of a bad file');
  await page.click('nav button[data-tab="files"]');
  await page.click(`#files-table tr[data-file-id="${input.badFileId}"]`);
  await page.waitForSelector(`#file-report[data-file-id="${input.badFileId}"][data-loaded="true"]`);
  out.badFile = await fileReport(page);

  mark('open the check report of the training file');
  const trainId = await page.$$eval('#files-table tr[data-file-id]', (rows, name) =>
    rows.filter((r) => r.querySelector('td div').textContent === name).map((r) => r.dataset.fileId)[0], path.basename(input.train));
  await page.click(`#files-table tr[data-file-id="${trainId}"]`);
  await page.waitForSelector(`#file-report[data-file-id="${trainId}"][data-loaded="true"]`);
  out.trainFile = await fileReport(page);
  out.trainFileId = trainId;
  await page.click(`#files-table tr[data-file-id="${input.badFileId}"]`);
  await page.waitForSelector(`#file-report[data-file-id="${input.badFileId}"][data-loaded="true"]`);
  await shot(page, 'bad-file');
}

/** Polls what the page shows of a job into out.timeline (each change once) until done(seen) holds. */
async function watch(page, jobId, done) {
  const deadline = Date.now() + (input.jobTimeoutMs || 60000);
  for (;;) {
    const seen = await page.evaluate((id) => {
      const d = document.getElementById('job-detail');
      const row = document.querySelector(`#jobs-table tr[data-job-id="${id}"]`);
      return { status: d.dataset.jobId === id ? d.dataset.status : null, points: +(document.getElementById('loss-chart').dataset.points || 0), listStatus: row && row.dataset.status };
    }, jobId);
    seen.ms = Date.now() - started;
    const last = out.timeline[out.timeline.length - 1];
    if (!last || last.status !== seen.status || last.points !== seen.points || last.listStatus !== seen.listStatus) out.timeline.push(seen);
    if (seen.status !== null && done(seen)) return;
    if (seen.status === 'failed' || seen.status === 'cancelled') throw new Error(`the job ended ${seen.status}: ${await page.textContent('#job-error')}`);
    if (Date.now() > deadline) throw new Error(`the job did not get there in time: ${JSON.stringify(out.timeline)}`);
    await page.waitForTimeout(100);
  }
}

/** A screenshot into input.screenshots, when the test was asked for them (SCALPEL_DASHBOARD_SCREENSHOTS=DIR). */
async function shot(page, name) {
  if (input.screenshots) await page.screenshot({ path: path.join(input.screenshots, `${scenario}-${name}.png`), fullPage: true });
}

/** Submits the job form; returns the new job's id once the page says it was created. */
async function submitJob(page) {
  const before = await page.textContent('#job-form-status');
  await page.click('#job-submit');
  await page.waitForFunction((b) => {
    const t = document.getElementById('job-form-status').textContent;
    return t !== b && /^Created ftjob-/.test(t);
  }, before);
  return (await page.textContent('#job-form-status')).match(/ftjob-[A-Za-z0-9]+/)[0];
}

async function fileReport(page) {
  return page.evaluate(() => {
    const rows = (id) => [...document.querySelectorAll(`#${id} tbody tr`)].map((r) => [...r.cells].map((c) => c.textContent));
    return {
      title: document.getElementById('file-title').textContent,
      summary: document.getElementById('file-summary').textContent,
      firstError: document.getElementById('file-first-error').hidden ? null : document.getElementById('file-first-error').textContent,
      errors: rows('file-errors'),
      warnings: rows('file-warnings'),
      stats: Object.fromEntries(rows('file-stats').map(([k, v]) => [k, v])),
    };
  });
}

/** From the finished job, "Chat with this model": the playground picks the fine-tuned model; a message streams back. */
async function chat(page) {
  mark('open the page');
  await page.goto(input.url);
  await page.waitForSelector('body[data-ready="true"]');

  mark('pick the fine-tuned model from its job');
  await page.click(`#jobs-table tr[data-job-id="${input.jobId}"]`);
  await page.waitForSelector(`#job-detail[data-job-id="${input.jobId}"][data-status="succeeded"]`);
  await page.click('#job-chat');
  await page.waitForFunction((model) => document.getElementById('pg-model').value === model, input.model);
  out.models = await page.$$eval('#pg-model option', (os) => os.map((o) => o.value));

  mark('send a message and watch the answer stream in');
  await settings(page);
  out.answer = await ask(page, input.message);
  out.userBubble = await page.textContent('#pg-transcript .msg.user .text');
  await shot(page, 'answer');

  mark('reset the conversation');
  await page.click('#pg-reset');
  out.messagesAfterReset = await page.$$eval('#pg-transcript .msg', (ms) => ms.length);
}

/** The playground against a scripted OpenAI stream: two turns (the second carries the first), an error answer, reset. */
async function playground(page) {
  mark('open the playground');
  await page.goto(input.url + '#playground');
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector(`#pg-model option[value="${input.model}"]`, { state: 'attached' });
  out.models = await page.$$eval('#pg-model option', (os) => os.map((o) => o.value));
  await page.selectOption('#pg-model', input.model);
  await settings(page);

  mark('first turn');
  out.first = await ask(page, input.messages[0]);
  mark('second turn');
  out.second = await ask(page, input.messages[1]);
  await shot(page, 'turns');
  mark('an error answer');
  out.failed = await ask(page, input.messages[2]);
  out.inputAfterError = await page.inputValue('#pg-input');
  out.transcript = await page.$$eval('#pg-transcript .msg', (ms) => ms.map((m) => `${m.dataset.role}: ${m.querySelector('.text').textContent}`));

  mark('reset');
  await page.click('#pg-reset');
  out.messagesAfterReset = await page.$$eval('#pg-transcript .msg', (ms) => ms.length);
}

async function settings(page) {
  await page.fill('#pg-system', input.system);
  await page.fill('#pg-temperature', String(input.temperature));
  await page.fill('#pg-max-tokens', String(input.maxTokens));
}

/** Sends a message; returns the answer bubble once it stops streaming, with every text it showed while streaming. */
async function ask(page, message) {
  await page.evaluate(() => {
    window.__seen = [];
    const last = () => [...document.querySelectorAll('#pg-transcript .msg.assistant')].pop();
    window.__observer && window.__observer.disconnect();
    window.__observer = new MutationObserver(() => {
      const a = last();
      if (a && a.dataset.streaming === 'true') window.__seen.push(a.querySelector('.text').textContent);
    });
    window.__observer.observe(document.getElementById('pg-transcript'), { subtree: true, childList: true, characterData: true, attributes: true });
  });
  const answers = await page.$$eval('#pg-transcript .msg.assistant', (ms) => ms.length);
  await page.fill('#pg-input', message);
  await page.click('#pg-send');
  await page.waitForFunction((n) => {
    const all = document.querySelectorAll('#pg-transcript .msg.assistant');
    return all.length > n && all[all.length - 1].dataset.streaming === 'false';
  }, answers);
  return page.evaluate(() => {
    const a = [...document.querySelectorAll('#pg-transcript .msg.assistant')].pop();
    return {
      text: a.querySelector('.text').textContent, deltas: +a.dataset.deltas, renders: +(a.dataset.renders || 0), finish: a.dataset.finish || null,
      error: a.classList.contains('error'), status: document.getElementById('pg-status').textContent,
      seenWhileStreaming: window.__seen.filter((t, i, all) => t !== '' && all.indexOf(t) === i),
    };
  });
}

/** A server with API keys: the page loads without one, asks for it, refuses a wrong one, keeps the right one for the tab. */
async function keys(page) {
  mark('open the page without a key');
  const response = await page.goto(input.url);
  out.pageStatus = response.status();
  await page.waitForSelector('#key-panel:not([hidden])');
  out.appHiddenWithoutKey = await page.isHidden('#app');
  out.reasonWithoutKey = await page.textContent('#key-reason');
  await shot(page, 'asks');

  mark('give a wrong key');
  await page.fill('#key-input', 'sk-wrong');
  await page.click('#key-save');
  await page.waitForFunction(() => document.getElementById('key-reason').textContent.includes('refused'));
  out.reasonWithWrongKey = await page.textContent('#key-reason');

  mark('give the right key');
  await page.fill('#key-input', input.key);
  await page.click('#key-save');
  await page.waitForSelector('body[data-ready="true"]');
  out.panelHiddenWithKey = await page.isHidden('#key-panel');
  out.baseModelField = await page.inputValue('#job-model');
  await page.click('nav button[data-tab="files"]');
  await page.waitForSelector(`#files-table tr[data-file-id="${input.fileId}"]`);
  out.filesListed = await page.$$eval('#files-table tr[data-file-id]', (rows) => rows.map((r) => r.dataset.fileId));
  out.storedKey = await page.evaluate(() => sessionStorage.getItem('scalpel.apiKey'));

  mark('reload: the tab keeps the key');
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  out.panelHiddenAfterReload = await page.isHidden('#key-panel');
}
