using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Scalpel.Tests;

/// <summary>
/// A fact that may skip itself while it runs, by throwing <see cref="SkipTestException"/> (xunit 2 has no dynamic skip).
/// For a test that needs something only the running system can tell is missing; the reason shows in the test report.
/// </summary>
[XunitTestCaseDiscoverer("Scalpel.Tests.SkippableFactDiscoverer", "Scalpel.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class SkippableFactAttribute : FactAttribute;

/// <summary>Thrown by a <see cref="SkippableFactAttribute"/> test: it is reported as skipped with this message.</summary>
public sealed class SkipTestException(string reason) : Exception(reason);

public sealed class SkippableFactDiscoverer(IMessageSink diagnostics) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions options, ITestMethod method, IAttributeInfo attribute) =>
        [new SkippableTestCase(diagnostics, options.MethodDisplayOrDefault(), options.MethodDisplayOptionsOrDefault(), method)];
}

public sealed class SkippableTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public SkippableTestCase() { }

    public SkippableTestCase(IMessageSink diagnostics, TestMethodDisplay display, TestMethodDisplayOptions displayOptions, ITestMethod method)
        : base(diagnostics, display, displayOptions, method) { }

    public override async Task<RunSummary> RunAsync(IMessageSink diagnostics, IMessageBus bus, object[] constructorArguments,
        ExceptionAggregator aggregator, CancellationTokenSource cancellation)
    {
        var skipping = new SkippingBus(bus);
        var summary = await base.RunAsync(diagnostics, skipping, constructorArguments, aggregator, cancellation);
        summary.Failed -= skipping.Skipped;
        summary.Skipped += skipping.Skipped;
        return summary;
    }

    /// <summary>Turns the failure of a test that threw <see cref="SkipTestException"/> into a skip.</summary>
    private sealed class SkippingBus(IMessageBus inner) : IMessageBus
    {
        public int Skipped { get; private set; }

        public bool QueueMessage(IMessageSinkMessage message)
        {
            if (message is ITestFailed failed && failed.ExceptionTypes.FirstOrDefault() == typeof(SkipTestException).FullName)
            {
                Skipped++;
                return inner.QueueMessage(new TestSkipped(failed.Test, failed.Messages.FirstOrDefault() ?? "skipped"));
            }
            return inner.QueueMessage(message);
        }

        // The bus belongs to the runner that passed it in.
        public void Dispose() { }
    }
}
