//! Temporary keyspace table (a hashbrown map behind the final `Dict` API); the real
//! chained table with a stable SCAN cursor replaces it.

use bytes::Bytes;

#[derive(Debug)]
pub struct Dict<V> {
    map: hashbrown::HashMap<Bytes, V, foldhash::fast::RandomState>,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> Dict<V> {
    pub fn new() -> Self {
        Dict {
            map: hashbrown::HashMap::default(),
        }
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.map.get(key)
    }
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.map.get_mut(key)
    }
    pub fn get_key_value(&self, key: &[u8]) -> Option<(&Bytes, &V)> {
        self.map.get_key_value(key)
    }
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.map.contains_key(key)
    }
    pub fn insert(&mut self, key: Bytes, value: V) -> Option<V> {
        self.map.insert(key, value)
    }
    pub fn entry_or_insert_with(&mut self, key: &[u8], f: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains_key(key) {
            self.map.insert(Bytes::copy_from_slice(key), f());
        }
        self.map.get_mut(key).expect("just inserted")
    }
    pub fn remove(&mut self, key: &[u8]) -> Option<(Bytes, V)> {
        self.map.remove_entry(key)
    }
    pub fn clear(&mut self) {
        self.map.clear()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &V)> {
        self.map.iter()
    }
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&Bytes, &V)) -> u64 {
        let start = cursor as usize;
        let mut n = 0;
        for (k, v) in self.map.iter().skip(start).take(10) {
            f(k, v);
            n += 1;
        }
        if start + n >= self.map.len() {
            0
        } else {
            (start + n) as u64
        }
    }
    pub fn random_entry(&self, rng: &mut impl rand::Rng) -> Option<(&Bytes, &V)> {
        if self.map.is_empty() {
            return None;
        }
        let i = rng.random_range(0..self.map.len());
        self.map.iter().nth(i)
    }
    pub fn sample(&self, rng: &mut impl rand::Rng, n: usize) -> Vec<&Bytes> {
        if self.map.is_empty() {
            return Vec::new();
        }
        let start = rng.random_range(0..self.map.len());
        self.map
            .keys()
            .cycle()
            .skip(start)
            .take(n.min(self.map.len()))
            .collect()
    }
    pub fn rehash_for(&mut self, _budget: std::time::Duration) -> bool {
        false
    }
    pub fn retain(&mut self, mut f: impl FnMut(&Bytes, &mut V) -> bool) {
        self.map.retain(|k, v| f(k, v))
    }
}
