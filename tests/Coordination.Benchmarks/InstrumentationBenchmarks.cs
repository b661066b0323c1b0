using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using Coordination.AspNetCore;
using Coordination.Diagnostics;
using Coordination.SingleFlight;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.Benchmarks;

/// <summary>The cost of the metrics on an uncontended single-flight call: no listener (the instruments are disabled),
/// and a listener that takes every measurement (what an OpenTelemetry exporter does before aggregating).</summary>
[MemoryDiagnoser]
public class InstrumentationBenchmarks
{
    private const int Keys = 1024;
    private static readonly Task<int> Value = Task.FromResult(42);
    private readonly string[] _keys = [.. Enumerable.Range(0, Keys).Select(i => $"key-{i}")];
    private ServiceProvider _unlistenedServices = null!;
    private ServiceProvider _listenedServices = null!;
    private MeterListener _listener = null!;
    private SingleFlightGroup<string, int> _unlistened = null!;
    private SingleFlightGroup<string, int> _listened = null!;
    private long _measurements;

    [GlobalSetup]
    public void Setup()
    {
        _unlistenedServices = Build();
        _listenedServices = Build();
        var listenedFactory = _listenedServices.GetRequiredService<IMeterFactory>();

        // Listens only to the meter of the listened group's service provider: the other one stays without a listener.
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == CoordinationDiagnostics.MeterName && instrument.Meter.Scope == listenedFactory)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        _listener.SetMeasurementEventCallback<long>((_, _, _, _) => Interlocked.Increment(ref _measurements));
        _listener.SetMeasurementEventCallback<int>((_, _, _, _) => Interlocked.Increment(ref _measurements));
        _listener.Start();
        _unlistened = _unlistenedServices.GetRequiredKeyedService<SingleFlightGroup<string, int>>("prices");
        _listened = _listenedServices.GetRequiredKeyedService<SingleFlightGroup<string, int>>("prices");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _listener.Dispose();
        _unlistenedServices.Dispose();
        _listenedServices.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Keys)]
    public Task<int> NotListened() => RunAsync(_unlistened);

    [Benchmark(OperationsPerInvoke = Keys)]
    public Task<int> Listened() => RunAsync(_listened);

    private static ServiceProvider Build() =>
        new ServiceCollection().AddKeyedCoordination(coord => coord.AddSingleFlightGroup<string, int>("prices")).BuildServiceProvider();

    private async Task<int> RunAsync(SingleFlightGroup<string, int> group)
    {
        var sum = 0;
        foreach (var key in _keys)
        {
            sum += await group.RunAsync(key, static _ => Value);
        }

        return sum;
    }
}
