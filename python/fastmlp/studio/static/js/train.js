// Training: the settings, start and stop, the live loss and accuracy curves and the rates.
import { api, fmtRate, follow, setMessage } from "./api.js";
import { LineChart } from "./chart.js";

const $ = (id) => document.getElementById(id);
const MAX_POINTS = 4000;  // batch points kept for the chart; beyond, neighbours are averaged

function halve(points) {
  const out = [];
  for (let i = 0; i + 1 < points.length; i += 2) {
    const [a, b] = [points[i], points[i + 1]];
    out.push([(a[0] + b[0]) / 2, (a[1] + b[1]) / 2, (a[2] + b[2]) / 2]);
  }
  if (points.length % 2) out.push(points[points.length - 1]);
  return out;
}

export class Trainer {
  constructor(info, builder, onFinished) {
    this.builder = builder;
    this.onFinished = onFinished;
    for (const o of info.optimizers) $("optimizer").append(new Option(o, o));
    $("optimizer").value = "adam";
    this.loss = new LineChart($("loss-chart"), { title: "loss", xlabel: "batches" });
    this.acc = new LineChart($("acc-chart"), { title: "accuracy", xlabel: "batches" });
    $("start").addEventListener("click", () => this.start());
    $("stop").addEventListener("click", () => this.stop());
    this.message = $("train-message");
  }

  settings() {
    const num = (id) => ($(id).value === "" ? null : Number($(id).value));
    const s = { ...this.builder.spec(), optimizer: $("optimizer").value,
                learning_rate: num("learning-rate"), batch_size: num("batch-size"),
                seed: num("seed"), validation_split: num("validation-split") };
    s[$("length-kind").value] = num("length");
    return s;
  }

  async start() {
    setMessage(this.message, "starting...");
    const r = await api("/api/runs", this.settings());
    if (!r.ok) return setMessage(this.message, r.data.error, "error");
    setMessage(this.message, `run ${r.data.id}`);
    this.watch(r.data);
  }

  async stop() {
    if (!this.run) return;
    const r = await api(`/api/runs/${this.run.id}/stop`, {});
    setMessage(this.message, r.ok ? "stopping..." : r.data.error, r.ok ? "" : "error");
  }

  // Follow a run (started here or in another tab) until it ends.
  watch(run) {
    this.run = run;
    this.points = [];
    this.epochs = [];
    $("stop").disabled = false;
    $("start").disabled = true;
    for (const id of ["test-accuracy", "infer-rate", "train-rate"]) $(id).textContent = "-";
    $("run-status").textContent = "training";
    follow(run.id, (u) => this.update(u));
  }

  update(u) {
    for (const p of u.batch) this.points.push(p);
    if (this.points.length > MAX_POINTS) this.points = halve(this.points);
    this.epochs.push(...u.epochs);
    const last = this.epochs[this.epochs.length - 1];
    if (last) $("train-rate").textContent = fmtRate(last.examples_per_sec);
    const ep = (key) => this.epochs.filter((e) => key in e).map((e) => [e.batches, e[key]]);
    this.loss.set([
      { label: "batch", points: this.points.map((p) => [p[0] + 1, p[1]]), color: "#93c5fd", width: 1 },
      { label: "epoch (train)", points: ep("loss"), color: "#2563eb", width: 2 },
      { label: "epoch (validation)", points: ep("val_loss"), color: "#dc2626", width: 2 }]);
    this.acc.set([
      { label: "batch", points: this.points.map((p) => [p[0] + 1, p[2]]), color: "#93c5fd", width: 1 },
      { label: "epoch (train)", points: ep("accuracy"), color: "#2563eb", width: 2 },
      { label: "epoch (validation)", points: ep("val_accuracy"), color: "#dc2626", width: 2 }]);
    if (u.run) this.finish(u.run);
  }

  finish(run) {
    $("stop").disabled = true;
    $("start").disabled = !this.builder.valid;
    $("run-status").textContent = run.status;
    const res = run.results || {};
    if (res.examples_per_sec) $("train-rate").textContent = fmtRate(res.examples_per_sec);
    if (res.test_accuracy != null) $("test-accuracy").textContent = (100 * res.test_accuracy).toFixed(2) + "%";
    if (res.inferences_per_sec) $("infer-rate").textContent = fmtRate(res.inferences_per_sec);
    if (run.error) setMessage(this.message, run.error, "error");
    else setMessage(this.message, `run ${run.id} ${run.status}`, "ok");
    this.onFinished(run);
  }

  setEnabled(valid) { if (!this.run || $("stop").disabled) $("start").disabled = !valid; }
}
