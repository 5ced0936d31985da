// The runs list (every run kept on disk) with exports, and the overlaid curves of ticked runs.
import { api, el, fmtRate, withToken } from "./api.js";
import { LineChart, colorOf } from "./chart.js";

const $ = (id) => document.getElementById(id);

function describe(layers) {
  return layers.filter((l) => l.type !== "Rescaling").map((l) => (l.type === "Dense"
    ? `Dense ${l.units}${l.activation ? " " + l.activation : ""}` : l.type)).join(" \u2192 ");
}

export class RunsList {
  constructor(onInspect) {
    this.onInspect = onInspect;
    this.selected = new Set();
    this.histories = {};
    this.chart = new LineChart($("compare-chart"), { title: "compare", xlabel: "epochs" });
    $("compare-metric").addEventListener("change", () => this.compare());
  }

  async refresh() {
    const r = await api("/api/runs");
    if (!r.ok) return;
    const head = el("tr", {}, ...["", "run", "dataset", "model", "params", "optimizer", "lr",
      "batch", "epochs", "status", "test acc", "examples/s", "inferences/s", ""]
      .map((h) => el("th", {}, h)));
    const rows = r.data.runs.slice().reverse().map((run) => {
      const p = run.params, res = run.results || {};
      const tick = el("input", { type: "checkbox", class: "compare", "data-run": run.id });
      tick.checked = this.selected.has(run.id);
      tick.addEventListener("change", () => {
        tick.checked ? this.selected.add(run.id) : this.selected.delete(run.id);
        this.compare();
      });
      const done = run.status === "done" || run.status === "stopped";
      const link = (kind, text) => el("a", { href: withToken(`/api/runs/${run.id}/export/${kind}`),
                                             class: `export-${kind}` }, text);
      const tools = el("td", {}, ...(done ? [el("button", { class: "inspect",
        onclick: () => this.onInspect(run) }, "inspect"), " ", link("model", "model"), " ",
        link("onnx", "onnx"), " "] : []), link("code", "code"));
      return el("tr", { "data-run": run.id }, el("td", {}, tick), el("td", {}, run.id),
        el("td", {}, run.dataset), el("td", {}, describe(run.layers)),
        el("td", {}, run.summary.total_params.toLocaleString()), el("td", {}, p.optimizer),
        el("td", {}, String(p.learning_rate)), el("td", {}, String(p.batch_size)),
        el("td", {}, p.steps_per_epoch ? `${p.epochs}\u00d7${p.steps_per_epoch} b` : String(p.epochs)),
        el("td", {}, run.status),
        el("td", {}, res.test_accuracy != null ? (100 * res.test_accuracy).toFixed(2) + "%" : "-"),
        el("td", {}, fmtRate(res.examples_per_sec)), el("td", {}, fmtRate(res.inferences_per_sec)),
        tools);
    });
    $("runs-table").replaceChildren(head, ...rows);
  }

  async compare() {
    const key = $("compare-metric").value;
    const series = [];
    let i = 0;
    for (const id of this.selected) {
      if (!this.histories[id]) {
        const r = await api(`/api/runs/${id}`);
        if (!r.ok) continue;
        this.histories[id] = r.data;
      }
      const run = this.histories[id];
      const pts = run.history.epochs.filter((e) => key in e).map((e) => [e.epoch, e[key]]);
      const widths = [run.summary.input_shape.reduce((a, b) => a * b, 1),
        ...run.summary.layers.filter((l) => l.type === "Dense").map((l) => l.output_shape[0])];
      series.push({ label: `${id.slice(-6)}: ${widths.join("-")}, batch ${run.params.batch_size}`,
                    points: pts,
                    color: colorOf(i++), width: 2 });
    }
    this.chart.set(series);
  }
}
