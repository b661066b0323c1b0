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
}
