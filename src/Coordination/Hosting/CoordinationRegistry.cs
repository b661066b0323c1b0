namespace Coordination.AspNetCore;

/// <summary>The names registered per primitive kind; names are case-sensitive ordinal and unique per kind.</summary>
internal sealed class CoordinationRegistry
{
    private readonly Dictionary<string, HashSet<string>> _namesByKind = new(StringComparer.Ordinal);

    public IReadOnlyCollection<string> Names(string kind) =>
        _namesByKind.TryGetValue(kind, out var names) ? names : [];

    public bool Contains(string kind, string name) => _namesByKind.TryGetValue(kind, out var names) && names.Contains(name);

    public void Add(string kind, string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!_namesByKind.TryGetValue(kind, out var names))
        {
            _namesByKind[kind] = names = new HashSet<string>(StringComparer.Ordinal);
        }

        if (!names.Add(name))
        {
            throw new ArgumentException($"A {kind} named '{name}' is already registered; names must be unique per kind.", nameof(name));
        }
    }
}
