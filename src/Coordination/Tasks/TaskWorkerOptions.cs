namespace Coordination.Tasks;

/// <summary>Options of the hosted workers of one handler.</summary>
public sealed class TaskWorkerOptions
{
    /// <summary>Gets or sets how many tasks the workers run at once.</summary>
    /// <value>The default value is 1. Allowed: 1 to 1024.</value>
    public int Concurrency { get; set; } = 1;

    internal IEnumerable<string> Validate(string queueName, string handlerName)
    {
        if (Concurrency is < 1 or > 1024)
        {
            yield return $"Task queue '{queueName}', worker {handlerName}: {nameof(Concurrency)} is {Concurrency}; allowed 1 to 1024.";
        }
    }
}
