using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace Coordination.Diagnostics;

/// <summary>The single-flight instruments, created once per meter factory.</summary>
internal sealed class SingleFlightMetrics
{
    public const string RoleTag = "coordination.single_flight.role";
    public const string ResultTag = "coordination.single_flight.result";

    public const string Leader = "leader";
    public const string Follower = "follower";
    public const string Promoted = "promoted";
    public const string Bypass = "bypass";
    public const string Overflow = "overflow";
    public const string Cached = "cached";

    // One result vocabulary across the primitives (batch operations and ingested events use the same words).
    public const string Success = "succeeded";
    public const string Failure = "failed";
    public const string Canceled = "canceled";
    public const string Timeout = "timed_out";
    public const string Dropped = "dropped";

    private readonly Counter<long> _requests;
    private readonly UpDownCounter<long> _active;
    private readonly Histogram<int> _followers;

    public SingleFlightMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(CoordinationDiagnostics.MeterName);
        _requests = meter.CreateCounter<long>(
            "coordination.single_flight.requests",
            unit: "{request}",
            description: "Calls and requests that went through single-flight, by role and result.");
        _active = meter.CreateUpDownCounter<long>(
            "coordination.single_flight.active",
            unit: "{flight}",
            description: "Flights in progress.");
        _followers = meter.CreateHistogram<int>(
            "coordination.single_flight.followers",
            unit: "{request}",
            description: "Followers that shared one flight.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10000] });
    }

    public void Request(string name, string role, string result, Exception? error = null, int count = 1)
    {
        if (count > 0 && _requests.Enabled)
        {
            RequestCore(name, role, result, error, count);
        }
    }

    /// <summary>Gets whether a flight starting now is counted in <c>coordination.single_flight.active</c>.</summary>
    /// <remarks>A listener can start or stop while a flight runs: checking <c>Enabled</c> again at the end would add a
    /// -1 without its +1 (or the reverse) and drive the up-down counter negative. So the flight keeps this decision
    /// and passes it to <see cref="FlightStarted"/> and <see cref="FlightEnded"/>, as ASP.NET Core's rate limiting
    /// <c>MetricsContext</c> does.</remarks>
    public bool ActiveEnabled => _active.Enabled;

    public void FlightStarted(string name, bool countedActive)
    {
        if (countedActive)
        {
            _active.Add(1, new KeyValuePair<string, object?>(CoordinationDiagnostics.NameTag, name));
        }
    }

    public void FlightEnded(string name, int followers, bool countedActive)
    {
        if (countedActive)
        {
            _active.Add(-1, new KeyValuePair<string, object?>(CoordinationDiagnostics.NameTag, name));
        }

        if (_followers.Enabled)
        {
            _followers.Record(followers, new KeyValuePair<string, object?>(CoordinationDiagnostics.NameTag, name));
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RequestCore(string name, string role, string result, Exception? error, int count)
    {
        var tags = new TagList
        {
            { CoordinationDiagnostics.NameTag, name },
            { RoleTag, role },
            { ResultTag, result },
        };
        if (error is not null)
        {
            tags.Add(CoordinationDiagnostics.ErrorTypeTag, error.GetType().FullName);
        }

        _requests.Add(count, tags);
    }
}
