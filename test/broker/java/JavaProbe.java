/*
 * A manual compatibility check, outside npm test (it needs Java and the RocketMQ 4.9.7 client jars
 * that shared/rocketmq-server/build.sh builds): the official Java client against a keelmq name server
 * and broker. Sends 200 tagged messages, a batch and a delayed one; a TagA push consumer must get
 * exactly the TagA ones, one RECONSUME_LATER comes back through the retry topic, and a restarted
 * consumer resumes from its committed offset. Exit code 0 = all held. See lib/broker/README.md.
 */
import org.apache.rocketmq.client.producer.*;
import org.apache.rocketmq.client.consumer.*;
import org.apache.rocketmq.client.consumer.listener.*;
import org.apache.rocketmq.common.message.*;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;

public class JavaProbe {
    public static void main(String[] args) throws Exception {
        String ns = args[0];
        String topic = "JavaProbeTopic";
        DefaultMQProducer p = new DefaultMQProducer("JPG");
        p.setNamesrvAddr(ns);
        p.start();
        Set<String> want = ConcurrentHashMap.newKeySet();
        for (int i = 0; i < 200; i++) {
            String tag = i % 2 == 0 ? "TagA" : "TagB";
            Message m = new Message(topic, tag, "k" + i, ("m" + i).getBytes());
            SendResult r = p.send(m);
            if (r.getSendStatus() != SendStatus.SEND_OK) throw new RuntimeException("send " + r);
            if (tag.equals("TagA")) want.add("m" + i);
        }
        // batch
        List<Message> batch = new ArrayList<>();
        for (int i = 0; i < 10; i++) batch.add(new Message(topic, "TagA", ("b" + i).getBytes()));
        SendResult br = p.send(batch);
        System.out.println("batch " + br.getSendStatus() + " " + br.getMsgId());
        for (int i = 0; i < 10; i++) want.add("b" + i);
        // delayed
        Message d = new Message(topic, "TagA", "delayed".getBytes());
        d.setDelayTimeLevel(1);
        p.send(d);
        want.add("delayed");
        Set<String> got = ConcurrentHashMap.newKeySet();
        AtomicInteger dup = new AtomicInteger();
        AtomicBoolean retried = new AtomicBoolean();
        AtomicInteger retryRedelivered = new AtomicInteger();
        DefaultMQPushConsumer c = new DefaultMQPushConsumer("JCG");
        c.setNamesrvAddr(ns);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(topic, "TagA");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                String b = new String(m.getBody());
                if (!m.getTags().equals("TagA")) throw new RuntimeException("tag " + m.getTags());
                if (b.equals("m10") && retried.compareAndSet(false, true)) return ConsumeConcurrentlyStatus.RECONSUME_LATER;
                if (b.equals("m10")) { retryRedelivered.set(m.getReconsumeTimes()); }
                if (!got.add(b)) dup.incrementAndGet();
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        long end = System.currentTimeMillis() + 60000;
        while (!got.containsAll(want) && System.currentTimeMillis() < end) Thread.sleep(100);
        System.out.println("consumed " + got.size() + " of " + want.size() + " dup=" + dup.get() + " retriedReconsumeTimes=" + retryRedelivered.get() + " extra=" + (got.size() - want.size()));
        Thread.sleep(6000); // let offsets persist
        c.shutdown();
        // restart: resume from committed offsets
        for (int i = 0; i < 5; i++) p.send(new Message(topic, "TagA", ("after" + i).getBytes()));
        Set<String> got2 = ConcurrentHashMap.newKeySet();
        DefaultMQPushConsumer c2 = new DefaultMQPushConsumer("JCG");
        c2.setNamesrvAddr(ns);
        c2.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c2.subscribe(topic, "TagA");
        c2.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) got2.add(new String(m.getBody()));
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c2.start();
        end = System.currentTimeMillis() + 40000;
        while (got2.size() < 5 && System.currentTimeMillis() < end) Thread.sleep(100);
        Thread.sleep(2000);
        System.out.println("after restart " + new TreeSet<>(got2));
        c2.shutdown();
        p.shutdown();
        System.exit(got.containsAll(want) && got2.size() == 5 ? 0 : 1);
    }
}
