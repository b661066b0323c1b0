using Coordination.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace WebApi;

/// <summary>OpenTelemetry for the sample: what a service built on Coordination.AspNetCore would wire up.</summary>
/// <remarks>
/// Metrics and traces of the library (<c>AddCoordinationInstrumentation</c>), of ASP.NET Core and of the runtime.
/// Exporters: a Prometheus scraping endpoint at <c>/metrics</c> (<c>Telemetry:Prometheus</c>, on by default); OTLP when
/// the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (with the other <c>OTEL_*</c> variables honoured); the
/// console (<c>Telemetry:Console</c>, off by default), to watch measurements and spans go by while trying the sample.
/// <c>Telemetry:Enabled</c> = <c>false</c> wires none of it.
/// </remarks>
public static class Telemetry
{
    public const string ServiceName = "coordination-sample";

    public static WebApplicationBuilder AddSampleTelemetry(this WebApplicationBuilder builder)
    {
        if (!builder.Configuration.GetValue("Telemetry:Enabled", defaultValue: true))
        {
            return builder;
        }

        var prometheus = builder.Configuration.GetValue("Telemetry:Prometheus", defaultValue: true);
        var console = builder.Configuration.GetValue("Telemetry:Console", defaultValue: false);
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(ServiceName))
            .WithMetrics(metrics =>
            {
                metrics.AddCoordinationInstrumentation().AddAspNetCoreInstrumentation().AddRuntimeInstrumentation();
                if (prometheus)
                {
                    metrics.AddPrometheusExporter();
                }

                if (console)
                {
                    metrics.AddConsoleExporter();
                }
            })
            .WithTracing(tracing =>
            {
                tracing.AddCoordinationInstrumentation().AddAspNetCoreInstrumentation();
                if (console)
                {
                    tracing.AddConsoleExporter();
                }
            });
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            telemetry.UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>Maps <c>GET /metrics</c>, which Prometheus scrapes, when the Prometheus exporter is on.</summary>
    public static WebApplication MapSampleTelemetry(this WebApplication app)
    {
        if (app.Configuration.GetValue("Telemetry:Enabled", defaultValue: true) && app.Configuration.GetValue("Telemetry:Prometheus", defaultValue: true))
        {
            app.MapPrometheusScrapingEndpoint();
        }

        return app;
    }
}
