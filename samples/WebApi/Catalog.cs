namespace WebApi;

/// <summary>A slow catalog: each lookup takes about 200 ms, like a busy database.</summary>
public sealed class Catalog(RunCounter runs, TimeProvider time)
{
    public static readonly TimeSpan SimulatedWork = TimeSpan.FromMilliseconds(200);

    public async Task<Product[]> ProductsAsync(string category, CancellationToken cancellationToken)
    {
        runs.Ran("products");
        await Task.Delay(SimulatedWork, time, cancellationToken);
        return [.. Enumerable.Range(1, 5).Select(i => new Product($"{category}-{i}", $"{category} item {i}", 10m * i))];
    }

    public async Task<Report> ReportAsync(int id, CancellationToken cancellationToken)
    {
        runs.Ran("reports");
        await Task.Delay(SimulatedWork, time, cancellationToken);
        return new Report(id, $"Report {id}", time.GetUtcNow());
    }
}

public sealed record Product(string Sku, string Name, decimal Price);

public sealed record Report(int Id, string Title, DateTimeOffset GeneratedAt);
