// Draws the charts of report.html from the JSON in the "run-data" element with uPlot (inlined above this script).
// When every chart has drawn, the body's data-ready attribute says what was drawn: "N series, M points" (tests read it).
(function () {
  'use strict';
  const run = JSON.parse(document.getElementById('run-data').textContent);
  const train = run.train, val = run.val;
  const best = run.best;   // {step, label} or null
  const charts = [];
  let expected = 0, drawn = 0, seriesCount = 0, pointCount = 0;

  const count = values => values.reduce((n, v) => n + (v === null ? 0 : 1), 0);

  // Learning rates are tiny (2e-4): uPlot's default tick format would print 0. Small and huge values go exponential.
  const exponential = v => v !== 0 && (Math.abs(v) < 1e-2 || Math.abs(v) >= 1e6);
  const tick = v => v === null ? '' : exponential(v) ? v.toExponential(1) : String(+v.toPrecision(6));
  const value = v => v === null || v === undefined ? '--' : exponential(v) ? v.toExponential(3) : String(+v.toPrecision(5));

  // A dashed vertical line at the best (early-stopping) step, with its label.
  const bestMarker = {
    hooks: {
      draw: [u => {
        if (!best || best.step === null) return;
        const [min, max] = [u.scales.x.min, u.scales.x.max];
        if (best.step < min || best.step > max) return;
        const x = u.valToPos(best.step, 'x', true);
        const ctx = u.ctx, top = u.bbox.top, bottom = u.bbox.top + u.bbox.height;
        ctx.save();
        ctx.strokeStyle = '#2a9d4b';
        ctx.lineWidth = 2 * devicePixelRatio;
        ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
        ctx.beginPath();
        ctx.moveTo(x, top);
        ctx.lineTo(x, bottom);
        ctx.stroke();
        ctx.fillStyle = '#2a9d4b';
        ctx.font = (12 * devicePixelRatio) + 'px system-ui, sans-serif';
        ctx.textAlign = 'left';
        ctx.textBaseline = 'top';
        const text = best.label, width = ctx.measureText(text).width, gap = 4 * devicePixelRatio;
        ctx.fillText(text, x + gap + width > u.bbox.left + u.bbox.width ? x - gap - width : x + gap, top + gap);
        ctx.restore();
      }],
    },
  };

  function whenDrawn() {
    drawn++;
    if (drawn === expected) document.body.setAttribute('data-ready', seriesCount + ' series, ' + pointCount + ' points');
  }

  // series: [{label, values, color}], each values[i] at steps[i] (null = no value there).
  function chart(id, steps, series, yLabel) {
    const el = document.getElementById(id);
    const present = series.filter(s => count(s.values) > 0);
    if (steps.length === 0 || present.length === 0) {
      el.classList.add('empty');
      el.textContent = 'No data recorded for this chart.';
      return;
    }
    seriesCount += present.length;
    pointCount += present.reduce((n, s) => n + count(s.values), 0);
    expected++;
    let first = true;
    const opts = {
      width: Math.max(320, el.clientWidth || 800),
      height: 260,
      scales: { x: { time: false } },
      legend: { live: true },
      series: [{ label: 'step' }].concat(present.map(s => ({
        label: s.label, stroke: s.color, width: 2, spanGaps: true, value: (u, v) => value(v),
        points: { show: count(s.values) <= 60, size: 6, fill: s.color },
      }))),
      axes: [{ label: 'step' }, { label: yLabel, size: 70, values: (u, splits) => splits.map(tick) }],
      plugins: [bestMarker],
      hooks: { draw: [() => { if (first) { first = false; whenDrawn(); } }] },
    };
    charts.push({ plot: new uPlot(opts, [steps].concat(present.map(s => s.values)), el), el });
  }

  // Train and validation losses share one chart: x is the union of their steps, each series null where it has no value.
  const steps = Array.from(new Set(train.step.concat(val.step))).sort((a, b) => a - b);
  const at = (xs, ys) => {
    const byStep = new Map();
    xs.forEach((x, i) => byStep.set(x, ys[i]));
    return steps.map(s => byStep.has(s) ? byStep.get(s) : null);
  };
  chart('chart-loss', steps, [
    { label: 'train loss', values: at(train.step, train.loss), color: '#1f6fb4' },
    { label: 'validation loss', values: at(val.step, val.val_loss), color: '#e8731a' },
  ], 'loss');
  if (count(val.val_accuracy) > 0)
    chart('chart-accuracy', val.step, [{ label: 'validation token accuracy', values: val.val_accuracy, color: '#8e44ad' }], 'accuracy');
  else
    document.getElementById('section-accuracy').hidden = true;
  chart('chart-lr', train.step, [{ label: 'learning rate', values: train.lr, color: '#2a9d4b' }], 'learning rate');
  chart('chart-grad-norm', train.step, [{ label: 'gradient norm', values: train.grad_norm, color: '#c0392b' }], 'norm');
  chart('chart-throughput', train.step, [{ label: 'tokens/s', values: train.tokens_per_s, color: '#6c5ce7' }], 'tokens/s');

  if (expected === 0) document.body.setAttribute('data-ready', '0 series, 0 points');

  window.addEventListener('resize', () => {
    for (const c of charts) c.plot.setSize({ width: Math.max(320, c.el.clientWidth), height: 260 });
  });
})();
