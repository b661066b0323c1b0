using System.Text.Json.Serialization;

namespace Coordination.Tests.Tasks;

[JsonSerializable(typeof(string))]
internal sealed partial class TestJson : JsonSerializerContext;
