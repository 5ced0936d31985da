// The page: wires the builder, the trainer, the inspector and the runs list together.
import { api, setMessage } from "./api.js";
import { Builder } from "./builder.js";
import { Inspector } from "./inspect.js";
import { RunsList } from "./runs.js";
import { Trainer } from "./train.js";

async function main() {
  const r = await api("/api/info");
  if (!r.ok) return setMessage(document.getElementById("server-message"), r.data.error, "error");
  const inspector = new Inspector();
  const runs = new RunsList((run) => inspector.show(run));
  let trainer = null;
  const builder = new Builder(r.data, (valid) => trainer && trainer.setEnabled(valid));
  trainer = new Trainer(r.data, builder, async (run) => {
    await runs.refresh();
    if (run.status === "done" || run.status === "stopped") inspector.show(run);
  });
  await builder.loadDatasets();
  await runs.refresh();
  // A run already training (started in another tab): follow it here too (the newest one
  // when several models train).
  const list = await api("/api/runs");
  const active = list.ok ? list.data.active : [];
  if (active.length) {
    const one = await api(`/api/runs/${active[active.length - 1]}`);
    if (one.ok) trainer.watch(one.data);
  }
}

main();
