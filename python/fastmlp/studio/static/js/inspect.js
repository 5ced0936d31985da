// Inspect a run: test images with true / predicted labels and a probability bar for each
// class, the misclassified filter, the confusion matrix (click a cell to see its images).
import { api, el, setMessage } from "./api.js";

const $ = (id) => document.getElementById(id);
const PAGE = 30;

function drawImage(pixels, shape) {
  const [h, w] = shape, ch = shape[2] || 1;
  const bytes = Uint8Array.from(atob(pixels), (c) => c.charCodeAt(0));
  const canvas = el("canvas", { width: w, height: h });
  const g = canvas.getContext("2d"), img = g.createImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    for (let k = 0; k < 3; k++) img.data[4 * i + k] = bytes[i * ch + (ch === 3 ? k : 0)];
    img.data[4 * i + 3] = 255;
  }
  g.putImageData(img, 0, 0);
  return canvas;
}

// The probabilities as a small bar chart: the true class green, a wrong prediction red.
function probChart(item, data) {
  const n = item.probs.length, w = 12, h = 40;
  const canvas = el("canvas", { width: n * w, height: h, class: "probs",
    title: item.probs.map((p, k) => `${data.classes[k]}: ${(100 * p).toFixed(1)}%`).join("\n") });
  const g = canvas.getContext("2d");
  item.probs.forEach((p, k) => {
    g.fillStyle = k === item.true ? "#15803d" : k === item.pred ? "#b91c1c" : "#93c5fd";
    const bh = Math.max(1, Math.round(p * (h - 1)));
    g.fillRect(k * w + 1, h - bh, w - 2, bh);
  });
  return canvas;
}

function card(item, data) {
  const wrong = item.true !== item.pred;
  const p = (k) => `${data.classes[k]} ${(100 * item.probs[k]).toFixed(0)}%`;
  return el("div", { class: "card" + (wrong ? " wrong" : ""), "data-index": item.index },
    drawImage(item.pixels, data.shape), probChart(item, data),
    el("div", { class: "true" }, `true: ${p(item.true)}`),
    el("div", { class: "pred" }, `predicted: ${p(item.pred)}`));
}

export class Inspector {
  constructor() {
    this.filter = {};
    $("only-misclassified").addEventListener("change", () => this.load());
    $("inspect-clear").addEventListener("click", () => { this.filter = {}; this.load(); });
    $("inspect-prev").addEventListener("click", () => this.load(this.offset - PAGE));
    $("inspect-next").addEventListener("click", () => this.load(this.offset + PAGE));
  }

  show(run) { this.run = run; this.filter = {}; this.load(); }

  async load(offset = 0) {
    if (!this.run) return;
    this.offset = Math.max(0, offset);
    const q = new URLSearchParams({ only: $("only-misclassified").checked ? "misclassified" : "all",
                                    limit: String(PAGE), offset: String(this.offset), ...this.filter });
    const r = await api(`/api/runs/${this.run.id}/inspect?${q}`);
    $("inspect-run").textContent = `run ${this.run.id}`;
    if (!r.ok) return setMessage($("inspect-count"), r.data.error, "error");
    const d = r.data;
    $("inspect-filter").textContent = "true" in this.filter
      ? `true ${d.classes[this.filter.true]}, predicted ${d.classes[this.filter.pred]}` : "";
    $("inspect-count").textContent = `${d.offset + 1}-${d.offset + d.items.length} of ${d.total} images; test accuracy ${(100 * d.accuracy).toFixed(2)}%`;
    $("inspect-prev").disabled = d.offset === 0;
    $("inspect-next").disabled = d.offset + d.items.length >= d.total;
    $("inspect-grid").replaceChildren(...d.items.map((it) => card(it, d)));
    this.confusion(d);
  }

  confusion(d) {
    const max = Math.max(...d.confusion.flat());
    const head = el("tr", {}, el("th", {}, "true \\ predicted"),
                    ...d.classes.map((c) => el("th", {}, c)));
    const rows = d.confusion.map((row, t) => el("tr", {}, el("th", {}, d.classes[t]),
      ...row.map((n, p) => {
        const a = n / (max || 1);
        const td = el("td", { title: `true ${d.classes[t]}, predicted ${d.classes[p]}`,
                              style: `background: rgba(${t === p ? "21,128,61" : "185,28,28"},${a.toFixed(2)})`,
                              onclick: () => { this.filter = { true: t, pred: p }; this.load(); } },
                      String(n));
        return td;
      })));
    $("confusion").replaceChildren(head, ...rows);
  }
}
