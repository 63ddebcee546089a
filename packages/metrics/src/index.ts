// Metrics and traces for Pocketsflow webhook receivers, as hooks for any adapter's `hooks` option.
export { prometheusHooks, type PrometheusHooksOptions } from './prometheus.js'
export { openTelemetryHooks, type OpenTelemetryHooksOptions } from './opentelemetry.js'
