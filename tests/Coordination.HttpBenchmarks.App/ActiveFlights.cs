using System.Diagnostics.Metrics;
using Coordination.Diagnostics;

namespace Coordination.HttpBenchmarks;

/// <summary>
/// Flights in progress across the app's single-flight policies, summed from <c>coordination.single_flight.active</c>.
/// The HTTP policies' flight tables are internal, so this is the one public view of them. It listens to that one
/// instrument only (the others stay disabled, as in an app without an exporter) and must start before the first
/// flight: a flight keeps the listening decision it started with.
/// </summary>
internal sealed class ActiveFlights : IDisposable
{
    private const string InstrumentName = "coordination.single_flight.active";

    private readonly MeterListener _listener = new();
    private long _count;

    public ActiveFlights()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == CoordinationDiagnostics.MeterName && instrument.Name == InstrumentName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _count, value));
        _listener.Start();
    }

    public long Count => Volatile.Read(ref _count);

    public void Dispose() => _listener.Dispose();
}
