using System.Globalization;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>The driver's command line. Defaults are the issue's; shorter runs are for iterating, not for the docs.</summary>
internal sealed record DriverOptions
{
    public const string Usage = """
        eng/bench-http.sh [options]
          --herd-seconds N    measured seconds of each herd run (default 20)
          --seconds N         measured seconds of each overhead and registration run (default 1)
          --rounds N          interleaved rounds of the overhead and registration scenarios (default 32)
          --abort-seconds N   seconds of each leader-abort run (default 10)
          --warmup-seconds N  warm-up before each variant's first measured run (default 2)
          --keys N            distinct URLs of the many-keys run (default 1000000)
          --scenarios LIST    comma-separated scenario numbers to run (default 1,2,3,4,5,6)
          --out FILE          where the markdown report goes (default artifacts/bench-http/results.md)
          --wrk PATH          the wrk executable (default wrk)
        """;

    public int HerdSeconds { get; init; } = 20;

    public int Seconds { get; init; } = 1;

    public int Rounds { get; init; } = 32;

    public int AbortSeconds { get; init; } = 10;

    public int WarmupSeconds { get; init; } = 2;

    public int Keys { get; init; } = 1_000_000;

    public IReadOnlySet<int> Scenarios { get; init; } = new HashSet<int> { 1, 2, 3, 4, 5, 6 };

    public string Output { get; init; } = Path.Combine("artifacts", "bench-http", "results.md");

    public string Wrk { get; init; } = "wrk";

    public bool Help { get; init; }

    /// <summary>Where the app logs and the generated wrk scripts go: beside the report.</summary>
    public string WorkDirectory => Path.GetDirectoryName(Path.GetFullPath(Output))!;

    /// <summary>Parses the arguments; an unknown option or a bad value throws <see cref="ArgumentException"/> naming it.</summary>
    public static DriverOptions Parse(IReadOnlyList<string> args)
    {
        var options = new DriverOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (name is "-h" or "--help")
            {
                options = options with { Help = true };
                continue;
            }

            if (i + 1 >= args.Count)
            {
                throw new ArgumentException($"Option '{name}' needs a value.");
            }

            var value = args[++i];
            options = name switch
            {
                "--herd-seconds" => options with { HerdSeconds = Positive(name, value) },
                "--seconds" => options with { Seconds = Positive(name, value) },
                "--rounds" => options with { Rounds = Positive(name, value) },
                "--abort-seconds" => options with { AbortSeconds = Positive(name, value) },
                "--warmup-seconds" => options with { WarmupSeconds = Positive(name, value) },
                "--keys" => options with { Keys = Positive(name, value) },
                "--scenarios" => options with { Scenarios = value.Split(',').Select(n => Positive(name, n)).ToHashSet() },
                "--out" => options with { Output = value },
                "--wrk" => options with { Wrk = value },
                _ => throw new ArgumentException($"Unknown option '{name}'.\n{Usage}"),
            };
        }

        return options;
    }

    private static int Positive(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0
            ? number
            : throw new ArgumentException($"Option '{name}' must be a positive whole number; got '{value}'.");
}
