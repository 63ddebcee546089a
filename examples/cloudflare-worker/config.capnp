# workerd's configuration for `pnpm start`: serves dist/worker.js (made by build.mjs) on
# http://localhost:8787, with the secret bound from the environment variable of the same name.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "dist/worker.js")],
  compatibilityDate = "2026-11-01",
  bindings = [(name = "POCKETSFLOW_WEBHOOK_SECRET", fromEnvironment = "POCKETSFLOW_WEBHOOK_SECRET")],
);
