using Coordination.Diagnostics;

namespace OpenTelemetry.Metrics;

/// <summary>Subscribes OpenTelemetry metrics to Coordination.AspNetCore.</summary>
public static class CoordinationMeterProviderBuilderExtensions
{
    /// <summary>Adds the <see cref="CoordinationDiagnostics.MeterName"/> meter.</summary>
    /// <param name="builder">The meter provider builder.</param>
    /// <returns>The builder, for chaining.</returns>
    public static MeterProviderBuilder AddCoordinationInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(CoordinationDiagnostics.MeterName);
    }
}
