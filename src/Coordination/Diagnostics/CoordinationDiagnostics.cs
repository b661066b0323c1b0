using System.Diagnostics;

namespace Coordination.Diagnostics;

/// <summary>The names under which Coordination.AspNetCore publishes its metrics and activities.</summary>
/// <remarks>Subscribe with <c>AddMeter(MeterName)</c> and <c>AddSource(ActivitySourceName)</c>, or call
/// <c>AddCoordinationInstrumentation()</c> on the OpenTelemetry builders.</remarks>
public static class CoordinationDiagnostics
{
    /// <summary>The name of the <see cref="System.Diagnostics.Metrics.Meter"/>.</summary>
    /// <value>The value is <c>"Coordination.AspNetCore"</c>.</value>
    public const string MeterName = "Coordination.AspNetCore";

    /// <summary>The name of the <see cref="System.Diagnostics.ActivitySource"/>.</summary>
    /// <value>The value is <c>"Coordination.AspNetCore"</c>.</value>
    public const string ActivitySourceName = "Coordination.AspNetCore";

    /// <summary>The tag that carries the policy, group, processor, queue or ingestion name.</summary>
    internal const string NameTag = "coordination.name";

    /// <summary>The tag that carries the type of a failure.</summary>
    internal const string ErrorTypeTag = "error.type";

    internal static readonly ActivitySource ActivitySource = new(ActivitySourceName);

    /// <summary>The current activity's W3C id, stored with queued work so that its processing continues the trace.</summary>
    internal static string? CurrentTraceParent() => Activity.Current is { IdFormat: ActivityIdFormat.W3C } current ? current.Id : null;

    /// <summary>Starts a consumer activity for queued work: the child of <paramref name="traceParent"/> when it parses,
    /// so that the work continues the trace that queued it; a new root otherwise.</summary>
    internal static Activity? StartConsumerActivity(string operationName, string? traceParent) =>
        ActivityContext.TryParse(traceParent, null, out var producer)
            ? ActivitySource.StartActivity(operationName, ActivityKind.Consumer, producer)
            : ActivitySource.StartActivity(operationName, ActivityKind.Consumer);
}
