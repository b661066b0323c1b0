// One sample at a time: OpenTelemetry's MeterProvider listens to meters by name across the whole process, so a second
// sample's meters feed the first one's exporter, and disposing that sample ends the metric streams the first exports.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
