namespace Coordination.Tests.Http;

/// <summary>Holds handlers until a test releases them, and counts how many ran.</summary>
public sealed class Gate
{
    private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _entered;

    public int Entered => Volatile.Read(ref _entered);

    public async Task PassAsync(CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _entered);
        await _open.Task.WaitAsync(cancellationToken);
    }

    public void Open() => _open.TrySetResult();

    /// <summary>Waits for a condition on other threads; condition-based, never a fixed sleep.</summary>
    public static void WaitUntil(Func<bool> condition, string what) =>
        Assert.True(SpinWait.SpinUntil(condition, TestTimeouts.Default), $"Timed out waiting until {what}.");
}
