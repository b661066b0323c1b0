using Coordination.Diagnostics;

namespace OpenTelemetry.Trace;

/// <summary>Subscribes OpenTelemetry tracing to Coordination.AspNetCore.</summary>
public static class CoordinationTracerProviderBuilderExtensions
{
    /// <summary>Adds the <see cref="CoordinationDiagnostics.ActivitySourceName"/> activity source.</summary>
    /// <param name="builder">The tracer provider builder.</param>
    /// <returns>The builder, for chaining.</returns>
    public static TracerProviderBuilder AddCoordinationInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource(CoordinationDiagnostics.ActivitySourceName);
    }
}
