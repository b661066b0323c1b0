using Coordination.PostgreSql;
using Coordination.Tasks;

namespace Coordination.Tests.Processes;

/// <summary>A task queue in a schema of its own, with a completions table the test worker records into.</summary>
internal static class TestQueue
{
    public static bool IsStart(string line) => line.StartsWith("started ", StringComparison.Ordinal);

    public static bool IsCompletion(string line) => line.StartsWith("completed ", StringComparison.Ordinal);

    public static async Task<(string Schema, PostgreSqlTaskStore Store)> CreateAsync(int tasks)
    {
        var schema = await TestDatabase.CreateSchemaAsync();
        await TestDatabase.ScalarAsync($"create table \"{schema}\".completions (task_id bigint primary key, pid integer not null)");
        var store = new PostgreSqlTaskStore(TestDatabase.DataSource, schema);
        await store.DoAsync([.. Enumerable.Range(0, tasks).Select(i => TaskOp.Create(new TaskItem { Group = "jobs", Payload = new[] { (byte)i } }))]);
        return (schema, store);
    }

    public static async Task<int> CountAsync(string sql) => Convert.ToInt32(await TestDatabase.ScalarAsync(sql), System.Globalization.CultureInfo.InvariantCulture);
}
