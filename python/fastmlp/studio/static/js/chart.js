// A small line chart on a canvas: several series of [x, y] points, autoscaled axes, a legend.
const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04",
                 "#db2777"];

export class LineChart {
  constructor(canvas, { title = "", xlabel = "" } = {}) {
    this.canvas = canvas;
    this.title = title;
    this.xlabel = xlabel;
    this.series = [];
  }

  set(series) { this.series = series; this.draw(); }

  // Points drawn so far, all series together (the browser test reads it).
  pointCount() { return this.series.reduce((n, s) => n + s.points.length, 0); }

  draw() {
    const c = this.canvas, g = c.getContext("2d");
    const W = c.width, H = c.height, L = 48, R = 10, T = 22, B = 26;
    g.clearRect(0, 0, W, H);
    g.font = "12px system-ui, sans-serif";
    g.fillStyle = "#1d2330";
    g.fillText(this.title, L, 14);
    c.dataset.points = String(this.pointCount());
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const s of this.series) {
      for (const [x, y] of s.points) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
    if (x0 === Infinity) return;
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
    const pad = (y1 - y0) * 0.05;
    y0 = y0 >= 0 ? Math.max(0, y0 - pad) : y0 - pad;  // losses and accuracies stay >= 0
    y1 += pad;
    const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
    const sy = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
    g.strokeStyle = "#d8dce3"; g.fillStyle = "#6b7280"; g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = y0 + ((y1 - y0) * i) / 4;
      g.beginPath(); g.moveTo(L, sy(y)); g.lineTo(W - R, sy(y)); g.stroke();
      g.fillText(y.toPrecision(3), 2, sy(y) + 4);
    }
    g.fillText(String(Math.round(x0)), L, H - 8);
    g.fillText(`${Math.round(x1)} ${this.xlabel}`, W - R - 80, H - 8);
    let legendX = L + g.measureText(this.title).width + 16;  // the legend: on the title line
    this.series.forEach((s, i) => {
      const color = s.color || PALETTE[i % PALETTE.length];
      g.strokeStyle = color; g.fillStyle = color; g.lineWidth = s.width || 1.5;
      g.beginPath();
      s.points.forEach(([x, y], j) => (j ? g.lineTo(sx(x), sy(y)) : g.moveTo(sx(x), sy(y))));
      g.stroke();
      if (s.points.length < 40) s.points.forEach(([x, y]) => g.fillRect(sx(x) - 2, sy(y) - 2, 4, 4));
      g.fillRect(legendX, 8, 10, 3);
      g.fillText(s.label, legendX + 14, 14);
      legendX += g.measureText(s.label).width + 30;
    });
  }
}

export function colorOf(i) { return PALETTE[i % PALETTE.length]; }
