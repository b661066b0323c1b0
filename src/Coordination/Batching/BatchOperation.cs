using System.Diagnostics;

namespace Coordination.Batching;

/// <summary>An operation and its caller's completion; its state moves once from waiting to started or withdrawn.</summary>
internal abstract class BatchOperation<TResource>
    where TResource : class
{
    private const int StateWaiting = 0;
    private const int StateStarted = 1;
    private const int StateWithdrawn = 2;

    private int _state;
    private CancellationTokenRegistration _withdrawal;

    public BatchKeyQueue<TResource> Queue { get; set; } = null!;

    public ActivityContext? CallerActivity { get; set; }

    public Exception? Error { get; private set; }

    /// <summary>Takes the operation into a batch, unless its caller withdrew it first.</summary>
    public bool TryStart()
    {
        if (Interlocked.CompareExchange(ref _state, StateStarted, StateWaiting) != StateWaiting)
        {
            return false;
        }

        _withdrawal.Dispose();
        return true;
    }

    public void WithdrawOn(CancellationToken cancellationToken)
    {
        _withdrawal = cancellationToken.UnsafeRegister(static (state, token) => ((BatchOperation<TResource>)state!).Withdraw(token), this);
        if (Volatile.Read(ref _state) == StateStarted)
        {
            // A batch took the operation before the registration existed: it is no longer withdrawable.
            _withdrawal.Dispose();
        }
    }

    /// <summary>Runs the operation; an exception fails only this caller, at once.</summary>
    public bool Apply(TResource resource)
    {
        try
        {
            Run(resource);
            return true;
        }
        catch (Exception exception)
        {
            Error = exception;
            Fail(exception);
            return false;
        }
    }

    /// <summary>Completes the caller after the save; <see langword="false"/> if its operation had failed already.</summary>
    public bool Succeed() => Error is null && Complete();

    /// <summary>Fails the caller with the batch's abort, or with the reason its operation was not queued; <see langword="false"/>
    /// if its operation had failed already.</summary>
    public bool Abort(Exception error)
    {
        if (Error is not null)
        {
            return false;
        }

        Fail(error);
        return true;
    }

    protected abstract void Run(TResource resource);

    protected abstract bool Complete();

    protected abstract void Fail(Exception error);

    /// <summary>Completes the caller as cancelled by its own token: its operation never ran.</summary>
    public abstract void Cancel(CancellationToken cancellationToken);

    private void Withdraw(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, StateWithdrawn, StateWaiting) != StateWaiting)
        {
            return;
        }

        Queue.Withdrawn();
        Cancel(cancellationToken);
    }
}

/// <summary>An operation without a result.</summary>
internal sealed class ActionBatchOperation<TResource>(Action<TResource> operation) : BatchOperation<TResource>
    where TResource : class
{
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Task => _completion.Task;

    protected override void Run(TResource resource) => operation(resource);

    protected override bool Complete() => _completion.TrySetResult();

    protected override void Fail(Exception error) => _completion.TrySetException(error);

    public override void Cancel(CancellationToken cancellationToken) => _completion.TrySetCanceled(cancellationToken);
}

/// <summary>An operation whose result its caller gets once the batch is saved.</summary>
internal sealed class FuncBatchOperation<TResource, TResult>(Func<TResource, TResult> operation) : BatchOperation<TResource>
    where TResource : class
{
    private readonly TaskCompletionSource<TResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TResult? _result;

    public Task<TResult> Task => _completion.Task;

    protected override void Run(TResource resource) => _result = operation(resource);

    protected override bool Complete() => _completion.TrySetResult(_result!);

    protected override void Fail(Exception error) => _completion.TrySetException(error);

    public override void Cancel(CancellationToken cancellationToken) => _completion.TrySetCanceled(cancellationToken);
}
